"""What config files share: the one parser of `--config=<file>.py:<arg>` arguments, and where
the shared data lives. Part of the library, so that config files load from any folder and
from an installed memjax (`configs/common.py` re-exports it).

    python experiments/train.py --config=configs/babi_dnc.py:1k,lstm ...

`parse_arg("1k,lstm", __file__, size=("10k", "1k"), core=("dnc", "ntm", "lstm"))`
gives `{"size": "1k", "core": "lstm"}`: the argument is comma-separated words, each
one value of one option (a tuple of choices whose first is the default) or the
name of a boolean option (default False). Anything else is refused in one line
that names the file and the words it takes.
"""
import os
from typing import Dict, Optional, Tuple, Union

import ml_collections

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout holding memjax/


def parse_arg(arg: Optional[str], config_file: str, renamed: Optional[Dict[str, str]] = None,
              **options: Union[Tuple[str, ...], bool]) -> ml_collections.ConfigDict:
  """The options of a config argument (see the module docstring).

  Args:
    arg: the text after the file's colon (None or "" for the defaults).
    config_file: the config's `__file__`, for messages.
    renamed: old words, refused with their new spelling.
    **options: name -> tuple of choices (the first is the default) or False (a flag).

  Raises:
    ValueError naming the file, the unknown words and the accepted ones.
  """
  name = f"configs/{os.path.basename(config_file)}"
  values = {key: (False if choices is False else choices[0]) for key, choices in options.items()}
  given = set()
  for word in [w.strip() for w in (arg or "").split(",") if w.strip()]:
    if renamed and word in renamed:
      raise ValueError(f"--config={name}:{arg}: {word!r} is now {renamed[word]!r}")
    keys = [key for key, choices in options.items()
            if (choices is False and word == key) or (choices is not False and word in choices)]
    if not keys:
      accepted = [key if choices is False else "|".join(choices)
                  for key, choices in options.items()]
      raise ValueError(f"--config={name}:{arg}: unknown option {word!r}; the argument is "
                       f"comma-separated words of {accepted}")
    key = keys[0]
    if key in given:
      raise ValueError(f"--config={name}:{arg}: give at most one value of {key} "
                       f"({'|'.join(options[key])})")
    given.add(key)
    values[key] = True if options[key] is False else word
  return ml_collections.ConfigDict(values)


def data_dir() -> str:
  """The shared data folder: $MEMJAX_DATA_DIR, else <repo>/../shared/data."""
  return os.environ.get("MEMJAX_DATA_DIR", os.path.join(_REPO, "..", "shared", "data"))


def renamed_config(old: str, new: str) -> ValueError:
  """The error of a config file that was renamed (its old name stays to say so)."""
  return ValueError(f"configs/{old} is now configs/{new} (key-value memories are spelt kv_ "
                    f"everywhere); use --config=configs/{new}")
