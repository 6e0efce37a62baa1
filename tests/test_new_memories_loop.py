"""The loop's family-wide policies for the newer memories: Infini-attention, the Recurrent
Memory Transformer and the Memorizing Transformer (segment models), causal linear attention
and the delta rule (cores), each at a tiny size in `long_range`, and RMT also in `char_lm`
with two segments per step (its memory carried across steps, with gradient within one).

- NaN policy: tests/test_loop.py's `check_nonfinite_policy` (a NaN step is skipped and
  counted, a streak stops the run naming a finite checkpoint).
- Exact resume: a run stopped by `train.stop_at_step` and relaunched ends with the state
  and results.json (but for times) of an unbroken one, in process, as
  tests/test_kill_and_resume.py checks the families (`assert_same_runs`).

All run with `python -m pytest -m slow tests/test_new_memories_loop.py` (the default suite is
near its 10-minute budget; there the NaN policy is checked per family, tests/test_loop.py).
"""
import pytest

from memjax.training import loop
from tests.family_configs import NEW_MEMORIES, tiny_config, with_model, write_data
from tests.test_kill_and_resume import assert_same_runs
from tests.test_loop import check_nonfinite_policy

# (family, model, train.segments_per_step)
CASES = [("long_range", name, 1) for name in NEW_MEMORIES] + [("char_lm", "rmt", 2)]
_IDS = [f"{family}-{name}" + (f"-k{k}" if k > 1 else "") for family, name, k in CASES]


def _params(default=()):
  return [pytest.param(*case, id=name, marks=() if case in default else pytest.mark.slow)
          for case, name in zip(CASES, _IDS)]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  return write_data(tmp_path_factory.mktemp("data"))


def _config(family, name, segments_per_step, data_root, **train):
  config = with_model(tiny_config(family, data_root), name)
  if family == "char_lm":
    config.train.segments_per_step = segments_per_step
  config.train.update(train)
  return config


@pytest.mark.parametrize("family, name, segments_per_step",
                         _params())
def test_nonfinite_steps_are_skipped_counted_and_a_streak_stops_the_run(
    family, name, segments_per_step, data_root, tmp_path):
  check_nonfinite_policy(_config(family, name, segments_per_step, data_root), tmp_path)


# 24 steps, checkpoints every 8, stopped at 13 (between two) and relaunched.
_RESUME = dict(num_steps=24, log_every=4, eval_every=8, checkpoint_every=8, keep_checkpoints=3)


@pytest.mark.parametrize("family, name, segments_per_step", _params())
def test_a_stopped_run_relaunched_ends_as_an_unbroken_one(family, name, segments_per_step,
                                                          data_root, tmp_path):
  config = lambda **train: _config(family, name, segments_per_step, data_root,
                                   **_RESUME, **train)
  straight, stopped = tmp_path / "straight", tmp_path / "stopped"
  loop.train_and_evaluate(config(), str(straight))
  first = loop.train_and_evaluate(config(stop_at_step=13), str(stopped))
  assert first["steps"] == 13 and first["stop_reason"] == "train.stop_at_step=13 reached"
  assert loop.train_and_evaluate(config(), str(stopped))["launch"]["resumed_from_step"] == 13
  assert_same_runs(config(), [straight, stopped])
