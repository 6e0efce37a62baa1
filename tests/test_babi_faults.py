"""Bad bAbI input is refused in one line that names the file:line or the config key and what
was expected, before anything trains on something other than the files say."""
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from memjax.data import babi, babi_scoring
from memjax.errors import ConfigError
from memjax.training.families.babi_memnn import BabiMemNNFamily
from memjax.training.families.babi_recurrent import BabiRecurrentFamily
from tests.data_paths import require_shared_data
from tests.family_configs import tiny_config, write_babi

ROOT = pathlib.Path(__file__).resolve().parent.parent
_GOOD = "1 Mary went to the kitchen.\n2 John got the milk.\n3 Where is Mary?\tkitchen\t1\n"


# ---------------------------------------------------------------------------------------------
# Lines: each case follows a good 3-line story, so its bad line is `line + 3` of the file.

@pytest.mark.parametrize("text, line, message", [
    # A question whose tabs became spaces would otherwise enter the story as a statement.
    ("1 Mary went home.\n2 Where is Mary? home 1\n", 2, r"has no tab \(were the tabs turned"),
    ("1 Mary went home.\n2 Where is Mary?\n", 2, "has no tab"),
    ("1 Mary went home.\n2 Where is Mary\thome\t1\n", 2, "must be one question ending with '\\?'"),
    ("1 Mary went home.\n2 Is it? Where is Mary?\thome\t1\n", 2, "one question ending"),
    ("1 Mary went home.\n2 Where is Mary?\thome\t\n", 2, "needs its supporting fact IDs"),
    ("1 Mary went home.\n2 Where is Mary?\tthe home\t1\n", 2, "one word or comma-separated"),
    ("1 Mary went home.\n2 Where is Mary?\tn,,s\t1\n", 2, "one word or comma-separated"),
    ("1 Mary went home.\n2 Where is Mary?\thome\t1.0\n", 2, "must be integers"),
    ("1 Mary went home.\n2 Where is Mary?\thome\t1\textra\n", 2,
     r"\(3 tab-separated fields\), got 4"),
    ("1.5 Mary went home.\n", 1, "numeric ID"),
    ("\u0661 Mary went home.\n", 1, "character '\u0661'"),    # an Arabic-Indic digit one
    ("Mary went home.\n", 1, "numeric ID"),
    ("2 Mary went home.\n", 1, "IDs must count up by one within a story and restart at 1"),
    ("1 Mary went home.\n1 John left.\n2 Where is John?\tx\t1\n", 1,
     "lines 4-4 end a story with no question"),
    ("1 Mary went to the caf\u00e9.\n2 Where is Mary?\thome\t1\n", 1,
     r"character '\u00e9' \(U\+00E9\) at column 23"),
    ("1 Mary went\x00 home.\n2 Where is Mary?\thome\t1\n", 1, "control character U\\+0000"),
])
def test_malformed_lines_are_refused_with_file_and_line(text, line, message):
  with pytest.raises(babi.BabiFormatError, match=rf"^bad\.txt:{line + 3}: .*{message}"):
    babi.parse_babi_text(_GOOD + text, name="bad.txt")


def test_a_story_cut_short_at_the_end_of_the_file_is_refused():
  with pytest.raises(babi.BabiFormatError, match=r"^bad\.txt:4: the statements of lines 4-5 "):
    babi.parse_babi_text(_GOOD + "1 Sandra left.\n2 John left.\n", name="bad.txt")


def test_a_huge_malformed_line_is_quoted_cut_short():
  with pytest.raises(babi.BabiFormatError) as error:
    babi.parse_babi_text("x" * 100_000, name="bad.txt")
  message = str(error.value)
  assert message.startswith("bad.txt:1: expected 'ID text'") and len(message) < 300
  assert message.endswith("... (100000 characters)")


def test_every_real_en_file_passes_the_checks_unchanged():
  root = require_shared_data("babi/tasks_1-20_v1-2")
  for task in range(1, 21):
    for split in ("train", "test"):
      examples = babi.parse_babi_file(babi.task_file(root, "en", task, split), task)
      assert len(examples) == 1000, (task, split)


# ---------------------------------------------------------------------------------------------
# Files.

@pytest.mark.parametrize("content", ["", "\n\n", "1 Mary went home.\n"])
def test_a_file_without_questions_is_refused(tmp_path, content):
  path = tmp_path / "qa1_test.txt"
  path.write_text(content)
  with pytest.raises(babi.BabiFormatError, match=f"^{path} has no questions"):
    babi.parse_babi_file(path)


def test_empty_test_file_is_refused_not_scored_as_a_passed_task(tmp_path):
  root = write_babi(tmp_path / "babi", num_stories=4)
  babi.task_file(root, "en", 8, "test").write_text("")
  for load in (babi.load_babi, babi.load_babi_stories):
    with pytest.raises(babi.BabiFormatError, match=r"qa8_lists-sets_test\.txt has no questions"):
      load(root, "en", [1, 8])


def test_empty_training_file_names_the_file(tmp_path):
  root = write_babi(tmp_path / "babi", num_stories=4)
  babi.task_file(root, "en", 1, "train").write_text("")
  with pytest.raises(babi.BabiFormatError,
                     match=r"qa1_single-supporting-fact_train\.txt has no questions"):
    babi.load_babi(root, "en", [1, 8])


def test_a_byte_that_is_not_utf8_names_file_line_and_column(tmp_path):
  path = tmp_path / "qa1.txt"
  path.write_bytes(_GOOD.encode() + b"1 Mary w\xe9nt home.\n2 Where is Mary?\thome\t1\n")
  for parse in (babi.parse_babi_file, babi.parse_babi_stories_file):
    with pytest.raises(babi.BabiFormatError,
                       match=rf"^{path}:4: byte 0xe9 at column 9 is not UTF-8"):
      parse(path)


def test_too_few_questions_to_split_names_the_file(tmp_path):
  root = write_babi(tmp_path / "babi", num_stories=4)
  babi.task_file(root, "en", 1, "train").write_text(_GOOD)
  with pytest.raises(ConfigError, match=r"qa1_single-supporting-fact_train\.txt: its 1 training "
                                        r"items leave no training ones"):
    babi.load_babi(root, "en", [1], validation_fraction=0.5)


# ---------------------------------------------------------------------------------------------
# The folder.

def test_a_missing_folder_is_one_short_line_not_every_missing_file(tmp_path):
  folder = tmp_path / "nope"
  data = tiny_config("babi_memnn", tmp_path).data
  data.babi_dir = str(folder)
  data.tasks = tuple(range(1, 21))
  for call in (lambda: babi.requested_tasks(data),
               lambda: babi.load_raw(folder, "en", list(range(1, 21)))):
    with pytest.raises((ConfigError, babi.MissingTaskFileError)) as error:
      call()
    message = str(error.value)
    assert message.startswith(f"bAbI folder not found: {folder} (set config.data.babi_dir")
    # Short whatever the number of tasks (the path's own length aside: tmp paths vary).
    assert len(message) - len(str(folder)) < 160
    assert "\n" not in message and "skip_missing" not in message
  write_babi(tmp_path / "babi", num_stories=2)
  data.babi_dir = str(tmp_path / "babi")
  data.setting = "en-10k"
  with pytest.raises(ConfigError, match=rf"bAbI folder not found: {tmp_path / 'babi' / 'en-10k'}"
                                        r" \(config.data.babi_dir=.* has no en-10k/"):
    babi.requested_tasks(data)


# ---------------------------------------------------------------------------------------------
# Config ranges, checked by each family before any work.

_NAN, _INF = float("nan"), float("inf")
_MEMNN = [
    ("data.memory_size", 0, "must be >= 1"), ("train.batch_size", 0, "must be >= 1"),
    ("train.eval_every", 0, "must be >= 1"), ("train.log_every", 0, "must be >= 1"),
    ("train.keep_checkpoints", 0, "must be >= 1"), ("train.checkpoint_every", -1, "must be >= 0"),
    ("train.stop_at_step", -1, "must be >= 0"), ("train.num_epochs", 0, "must be >= 1"),
    ("train.decay_every", 0, "must be >= 1"), ("train.ls_epochs", -1, "must be >= 0"),
    ("train.ls_decay_every", 0, "must be >= 1"), ("train.learning_rate", 0.0, "must be > 0"),
    ("train.learning_rate", _NAN, "must be a finite number"),
    ("train.learning_rate", _INF, "must be a finite number"),
    ("train.ls_learning_rate", -1.0, "must be > 0"), ("train.random_noise", 1.0, "must be < 1"),
    ("train.max_grad_norm", 0.0, "must be > 0"),
    ("train.memory_buckets", (6, 0), "must be memory sizes >= 1"),
    ("model.num_hops", 0, "must be >= 1"), ("model.embedding_dim", 0, "must be >= 1"),
    ("model.init_std", 0.0, "must be > 0"), ("model.encoding", "pe", "is not one of"),
    ("model.tying", "none", "is not one of"), ("num_seeds", 0, "must be >= 1"),
    ("seed", -1, "must be >= 0"), ("data.validation_fraction", 0.0, r"must be in \(0, 1\)"),
    ("data.validation_fraction", 1.0, r"must be in \(0, 1\)"),
    ("data.validation_fraction", _NAN, r"must be in \(0, 1\)"),
    ("data.tasks", (1, 1), "names a task twice"), ("data.tasks", (0,), "in 1..20"),
    ("data.source", "tfrecord", "is not one of"),
]
_RECURRENT = [
    ("train.batch_size", 0, "must be >= 1"), ("train.eval_every", 0, "must be >= 1"),
    ("train.num_steps", 0, "must be >= 1"), ("train.log_every", 0, "must be >= 1"),
    ("train.learning_rate", 0.0, "must be > 0"),
    ("train.learning_rate", _NAN, "must be a finite number"),
    ("train.eval_batch_size", 0, "must be >= 1"), ("train.scan_unroll", 0, "must be >= 1"),
    ("train.grad_clip_norm", -1.0, "must be >= 0"), ("train.checkpoint_every", -1, "must be >= 0"),
    ("data.max_train_length", -1, "must be >= 0"), ("model.hidden_size", 0, "must be >= 1"),
    ("num_seeds", 0, "must be >= 1"), ("data.validation_fraction", 0.0, r"must be in \(0, 1\)"),
    ("data.validation_fraction", 1.5, r"must be in \(0, 1\)"),
    ("data.source", "tfrecord", "is not one of"),
]


def _set(config, key, value):
  *blocks, name = key.split(".")
  node = config
  for block in blocks:
    node = node[block]
  node[name] = value


@pytest.mark.parametrize("family, key, value, message",
                         [("babi_memnn",) + case for case in _MEMNN]
                         + [("babi_recurrent",) + case for case in _RECURRENT])
def test_each_range_is_checked_in_one_line_naming_the_key(tmp_path, family, key, value, message):
  write_babi(tmp_path / "babi", num_stories=2)
  config = tiny_config(family, tmp_path)
  _set(config, key, value)
  family_class = {"babi_memnn": BabiMemNNFamily, "babi_recurrent": BabiRecurrentFamily}[family]
  with pytest.raises(ConfigError) as error:
    family_class.check_config(config)
  assert f"config.{key}=" in str(error.value) and "\n" not in str(error.value)
  assert re.search(message, str(error.value)), str(error.value)


@pytest.mark.parametrize("family", ["babi_memnn", "babi_recurrent"])
def test_a_family_built_directly_refuses_a_zero_batch(tmp_path, family):
  # Built without the loop (tools, benchmarks): once a ZeroDivisionError, or training on
  # empty batches.
  write_babi(tmp_path / "babi", num_stories=2)
  config = tiny_config(family, tmp_path)
  config.train.batch_size = 0
  family_class = {"babi_memnn": BabiMemNNFamily, "babi_recurrent": BabiRecurrentFamily}[family]
  with pytest.raises(ConfigError, match=r"^config\.train\.batch_size=0 must be >= 1$"):
    family_class(config)


def test_no_seed_is_chosen_and_no_result_reported_from_a_nan():
  good = np.array([[10.0, 20.0], [5.0, 30.0]])
  with_nan = np.array([[10.0, math.nan], [5.0, math.nan]])
  for joint in (True, False):
    with pytest.raises(ValueError, match="validation error of bAbI task 8 is NaN"):
      babi_scoring.summarize(good, with_nan, [1, 8], joint=joint)
    with pytest.raises(ValueError, match="test error of bAbI task 8 is NaN"):
      babi_scoring.summarize(with_nan, good, [1, 8], joint=joint)
  assert babi_scoring.summarize(good, good, [1, 8], joint=True)["best_seed"] == [0, 0]


# ---------------------------------------------------------------------------------------------
# Through the launcher: one line on stderr, no traceback, no results.

def _launch(tmp_path, config, *flags):
  return subprocess.run(
      [sys.executable, str(ROOT / "experiments" / "train.py"), f"--config={ROOT / config}",
       f"--workdir={tmp_path / 'run'}", *flags],
      capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=300)


def test_launchers_print_a_bad_file_as_one_line(tmp_path):
  root = write_babi(tmp_path / "babi", num_stories=4)
  path = babi.task_file(root, "en", 1, "train")
  lines = path.read_text().split("\n")
  lines[2] = lines[2].replace("\t", " ")  # the first question, its tabs turned into spaces
  path.write_text("\n".join(lines))
  result = _launch(tmp_path, "configs/babi_memn2n.py", f"--config.data.babi_dir={root}",
                   "--config.data.tasks=1,8", "--config.num_seeds=1",
                   "--config.train.num_epochs=1")
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
  error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
  assert len(error_lines) == 1 and f"{path}:3: a question (a line with '?')" in error_lines[0]
  assert not (tmp_path / "run" / "results.json").exists()
  result = _launch(tmp_path, "configs/babi_dnc.py:1k,lstm",
                   f"--config.data.babi_dir={tmp_path / 'nope'}")
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
  assert f"error: bAbI folder not found: {tmp_path / 'nope'}" in result.stderr
