"""The one training loop: its policy, tested once and for every model family alike.

Each test runs over `tests.family_configs.FAMILIES` (tiny configs, 8 steps):
bad values are refused in one line before any work; a NaN/Inf step leaves a
seed's state untouched and is counted, and a streak stops the run naming a
finite checkpoint. (A run stopped by `train.stop_at_step` or killed with SIGKILL,
then relaunched, ends bit-identical to an unbroken one: tests/test_kill_and_resume.py.)
"""
import json
import math
import re

import chex
import jax
import numpy as np
import pytest

from memjax.errors import ConfigError
from memjax.training import loop, registry
from tests.family_configs import FAMILIES, set_num_steps, tiny_config, write_data


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  return write_data(tmp_path_factory.mktemp("data"))


def _build(config):
  return registry.family_class(config)(config)


def _comparable(results: dict) -> dict:
  """results.json without what differs between launches: times and the launch block."""
  def strip(tree):
    if isinstance(tree, dict):
      return {k: strip(v) for k, v in tree.items()
              if k != "launch" and "seconds" not in k and k != "results_path"}
    if isinstance(tree, list):
      return [strip(v) for v in tree]
    return tree
  return strip(results)


# ---------------------------------------------------------------------------------------------
# Checks before any work.

_BAD_VALUES = [
    ("train.learning_rate", math.nan, "must be a finite number"),
    ("train.learning_rate", math.inf, "must be a finite number"),
    ("train.learning_rate", 0.0, "must be > 0.0"),
    ("train.learning_rate", -0.01, "must be > 0.0"),
    ("train.num_steps", 0, "must be >= 1"),
    ("train.num_steps", -5, "must be >= 1"),
    ("train.stop_at_step", -1, "must be >= 0"),
    ("train.log_every", 0, "must be >= 1"),
    ("train.log_every", -3, "must be >= 1"),
    ("train.eval_every", 0, "must be >= 1"),
    ("train.eval_every", -1, "must be >= 1"),
    ("train.checkpoint_every", -1, "must be >= 0"),
    ("train.keep_checkpoints", 0, "must be >= 1"),
    ("train.keep_checkpoints", -1, "must be >= 1"),
    ("train.max_consecutive_nonfinite", 0, "must be >= 1"),
    ("train.batch_size", 0, "must be >= 1"),
    ("num_seeds", 0, "must be >= 1"),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_values_are_refused_in_one_line_before_any_work(family, data_root, tmp_path):
  workdir = tmp_path / "run"
  cases = list(_BAD_VALUES)
  if family == "babi_memnn":  # its steps are epochs: train.num_epochs (+ linear-start epochs)
    cases = [("train.num_epochs", -1, "must be >= 1") if key == "train.num_steps" else
             (key, value, message) for key, value, message in cases]
  else:  # (a warm-up as long as the run is shortened: tests/test_bad_input.py)
    cases.append(("train.warmup_steps", -1, "must be >= 0"))
  cases.append(("train.lr", 0.1, "is not a field of experiment"))
  for key, value, message in cases:
    config = tiny_config(family, data_root)
    if key == "train.warmup_steps":
      config.train.schedule = "warmup_cosine"
    node, leaf = (config.train, key.split(".")[1]) if key.startswith("train.") else (config, key)
    node[leaf] = value
    with pytest.raises(ConfigError) as error:
      loop.train_and_evaluate(config, str(workdir))
    text = str(error.value)
    assert key in text and message in text and "\n" not in text, (key, value, text)
    assert not workdir.exists(), f"{key}={value} left a workdir behind"


def test_unknown_and_renamed_experiments_are_named():
  config = tiny_config("algorithmic", "/nonexistent")
  for name, message in [("babi", "now config.experiment='babi_memnn'"),
                        ("copying", "is not one of ['algorithmic', 'babi_memnn'")]:
    config.experiment = name
    with pytest.raises(ConfigError, match=re.escape(message)):
      loop.train_and_evaluate(config, "/nonexistent/run")


def test_families_share_compiled_steps_only_when_the_step_reads_the_same_config(data_root):
  """The jitted step is cached per family (equal when the configs differ in host-only keys):
  runs that differ in intervals share it; a different num_steps does not when the learning
  rate schedule decays over it (a cosine schedule compiled for 8 steps is not one for 300)."""
  def family(schedule, **train):
    config = tiny_config("algorithmic", data_root)
    config.train.update(schedule=schedule, **train)
    return registry.family_class(config)(config)

  assert family("constant") == family("constant", num_steps=300, log_every=7, eval_every=3)
  assert family("cosine") == family("cosine", log_every=7, checkpoint_every=5)
  assert family("cosine") != family("cosine", num_steps=300)
  assert family("constant") != family("constant", learning_rate=0.5)


# ---------------------------------------------------------------------------------------------
# NaN/Inf.

# mqar's and long_range's steps are haystack's (one `_recall_loss`) with another task: behind
# `slow` (37 s of the default suite's 10-minute budget).
# kbqa's (15 s) is graph's kind of step.
@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow)
                                    if f in ("mqar", "long_range", "kbqa") else f
                                    for f in FAMILIES])
def test_nonfinite_steps_are_skipped_counted_and_a_streak_stops_the_run(family, data_root,
                                                                         tmp_path):
  check_nonfinite_policy(tiny_config(family, data_root), tmp_path)


def check_nonfinite_policy(config, tmp_path):
  """NaN parameters at updates 1, 3, 4, 5 (the loop's test hook, so the family's own step
  meets a real NaN loss, gradient and update): update 1 leaves every seed's state as it was
  and is counted; the streak 3-5 reaches the limit of 3 and stops the run, naming the last
  checkpoint saved before it began, whose parameters are finite. `config`: any family's
  config of at least 6 steps (tests/test_new_memories_loop.py runs it for more models)."""
  config.train.update(debug_nonfinite_steps=(1, 3, 4, 5), max_consecutive_nonfinite=3,
                      checkpoint_every=1)
  family_object = _build(config)
  num_seeds = family_object.num_seeds
  state, _ = loop.train_step(family_object, family_object.init_state(), family_object.batch(0))
  before = jax.device_get(state)  # a host copy: the next step donates the state's buffers
  state, metrics = loop.train_step(family_object, state, family_object.batch(1))
  skipped = jax.device_get(state)
  assert not np.isfinite(np.asarray(metrics["loss"])).any()
  chex.assert_trees_all_equal((skipped.params, skipped.opt_state, skipped.carry, skipped.rng),
                              (before.params, before.opt_state, before.carry, before.rng))
  assert int(skipped.step) == 2
  np.testing.assert_array_equal(skipped.nonfinite_streak, [1] * num_seeds)
  np.testing.assert_array_equal(skipped.nonfinite_total, [1] * num_seeds)
  state, _ = loop.train_step(family_object, state, family_object.batch(2))
  after = jax.device_get(state)
  np.testing.assert_array_equal(after.nonfinite_streak, [0] * num_seeds)
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(after.params),
                                                      jax.tree_util.tree_leaves(before.params)))

  workdir = tmp_path / "run"
  results = loop.train_and_evaluate(config, str(workdir))
  unit = results["step_unit"]
  assert results["stop_reason"].startswith(
      f"stopped: 3 consecutive NaN/Inf {unit}s (from {unit} 4) by {unit} 6 "
      "(train.max_consecutive_nonfinite=3)"), results["stop_reason"]
  # Saved: step 1 and 3 (after a finite update); 2, 4, 5 were mid-streak, 6 stopped the run.
  checkpoints = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  assert checkpoints == [1, 3]
  assert results["stop_reason"].endswith(f"last good checkpoint: {workdir / 'checkpoints' / '1'}")
  assert results["steps"] == 6 and results["nonfinite_steps_skipped"] == [4] * num_seeds
  saved = json.loads((workdir / "results.json").read_text())
  assert saved["stop_reason"] == results["stop_reason"]
  import shutil
  shutil.rmtree(workdir / "checkpoints" / "3")  # the named one is then the newest
  restored, step = loop.restore(family_object, str(workdir))
  assert step == 1
  chex.assert_tree_all_finite(jax.device_get(restored.params))


# ---------------------------------------------------------------------------------------------
# A finished run, relaunched.

def test_a_run_relaunched_after_it_ended_trains_no_further(data_root, tmp_path):
  config = tiny_config("algorithmic", data_root)
  set_num_steps(config, 4)
  done = loop.train_and_evaluate(config, str(tmp_path))
  again = loop.train_and_evaluate(config, str(tmp_path))
  assert again["launch"]["resumed_from_step"] == 4 and again["steps"] == 4
  assert _comparable(done) == _comparable(again)


# ---------------------------------------------------------------------------------------------
# A new family is one module and one config.

def test_a_family_of_ones_own_trains_through_the_launcher_with_import(tmp_path):
  """examples/sequence_classification.py registers a family; experiments/train.py --import
  trains it (an LSTM learns to recall the first of 10 symbols) and prints the summary."""
  import os
  import pathlib
  import subprocess
  import sys
  root = pathlib.Path(__file__).resolve().parent.parent
  done = subprocess.run(
      [sys.executable, str(root / "experiments" / "train.py"),
       f"--import={root / 'examples' / 'sequence_classification.py'}",
       f"--config={root / 'examples' / 'sequence_classification_config.py'}",
       f"--workdir={tmp_path}", "--config.train.num_steps=100", "--config.train.eval_every=50"],
      capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert done.returncode == 0, done.stderr[-2000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["experiment"] == "sequence_classification" and results["steps"] == 100
  assert results["final"]["accuracy"][0] > 0.9, results["final"]  # chance: 0.25
  assert "done: sequence_classification after 100 steps: accuracy" in done.stdout
