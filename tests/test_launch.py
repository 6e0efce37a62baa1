"""memjax/training/launch.py: a missing, unparsable or misspelt config is one line, before absl."""
import os
import pathlib

import pytest

from memjax import launch
from memjax.launch import check_config_overrides

ROOT = pathlib.Path(__file__).resolve().parent.parent
COPY_NTM = str(ROOT / "configs" / "copy_ntm.py")


def _exit_message(argv):
  with pytest.raises(SystemExit) as info:
    check_config_overrides(["train.py", *argv])
  return str(info.value.code)


def test_a_missing_config_file_is_one_line_with_or_without_overrides(tmp_path):
  missing = str(tmp_path / "copy_nmt.py")
  for argv in ([f"--config={missing}"], ["--config", missing],
               [f"--config={missing}", "--config.train.num_steps=3"]):
    assert _exit_message(argv) == f"error: --config={missing}: file {missing} not found"
  assert _exit_message([f"--config={tmp_path}"]).endswith("is a folder, not a config file")


def test_a_config_file_that_does_not_parse_or_has_no_get_config_is_named(tmp_path):
  broken = tmp_path / "broken.py"
  broken.write_text("def get_config():\n  return dict(a=1\n")
  message = _exit_message([f"--config={broken}"])
  assert message.startswith(f"error: --config={broken}: {broken} line 2: ")
  empty = tmp_path / "empty.py"
  empty.write_text("x = 1\n")
  assert _exit_message([f"--config={empty}"]).endswith("defines no get_config()")


def test_a_good_config_passes_and_a_misspelt_key_names_the_block():
  check_config_overrides(["train.py", f"--config={COPY_NTM}"])  # returns: nothing to say
  check_config_overrides(["train.py", f"--config={COPY_NTM}", "--config.model.memory_size=8"])
  message = _exit_message([f"--config={COPY_NTM}", "--config.model.memory_sizee=8"])
  assert "unknown config key 'model.memory_sizee'" in message and "memory_size" in message


def test_compilation_cache_dir_defaults_under_the_users_cache_and_yields_to_their_choice():
  assert launch.compilation_cache_dir({"XDG_CACHE_HOME": "/c"}) == "/c/memjax/xla"
  home = launch.compilation_cache_dir({})
  assert home.endswith(os.path.join(".cache", "memjax", "xla"))
  assert launch.compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "/mine"}) is None
  assert launch.compilation_cache_dir({launch.COMPILATION_CACHE_OPT_OUT: "0"}) is None
