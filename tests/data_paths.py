"""One place where tests find the shared data (bAbI, tiny Shakespeare).

`MEMJAX_DATA_DIR` wins; otherwise `<repo>/../shared/data`. Tests that need a
file call `require_shared_data(...)`, which skips with the reason when it is
absent, so the suite also passes on a user's fresh clone without the data.
"""
import os
import pathlib

import pytest

_REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_data_dir() -> pathlib.Path:
  """The shared data folder: $MEMJAX_DATA_DIR, else <repo>/../shared/data."""
  return pathlib.Path(os.environ.get("MEMJAX_DATA_DIR", _REPO_ROOT.parent / "shared" / "data"))


def require_shared_data(relative_path: str) -> pathlib.Path:
  """Path of `relative_path` under the shared data folder, or skip the test saying why."""
  path = shared_data_dir() / relative_path
  if not path.exists():
    pytest.skip(f"shared data {path} not found: set MEMJAX_DATA_DIR to a folder holding "
                f"{relative_path}")
  return path
