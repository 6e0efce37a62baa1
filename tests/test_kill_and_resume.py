"""Exact resumption in every model family: a run killed with SIGKILL, relaunched to
`train.stop_at_step` (where it stops) and relaunched again, ends bit-identical to an unbroken
run: parameters, optimizer state, carry, keys and counters, and results.json but for times.
(The algorithmic family, whose processes compile slowly at the default level below, is
relaunched once, straight to the end.)

Each family trains 300 tiny steps (epochs for the memory networks), checkpointing every 50.
The run to be killed is a subprocess of experiments/train.py, killed once a checkpoint of
step 50 or later exists (often during a later save). The algorithmic family's processes
compile at XLA's default optimisation level, the code users run, so its unbroken run and its
relaunches are processes too; the other families compile at the suite's level 0
(tests/conftest.py), as this process does, so their unbroken run and relaunches run here:
the same programs, which the killed subprocess found in the suite's compilation cache.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import chex
import jax
import pytest

from memjax.training import loop, registry
from tests.family_configs import FAMILIES, set_num_steps, tiny_config, write_data
from tests.test_loop import _comparable

ROOT = pathlib.Path(__file__).resolve().parent.parent
_STEPS = 300
_FLAGS = {"log_every": 50, "eval_every": 100, "checkpoint_every": 50, "keep_checkpoints": 3}


def _command(family, data_root, workdir):
  return [sys.executable, str(ROOT / "experiments" / "train.py"),
          f"--config={ROOT / 'tests' / 'family_configs.py'}:{family},{data_root},{_STEPS}",
          f"--workdir={workdir}"] + [f"--config.train.{k}={v}" for k, v in _FLAGS.items()]


def _config(family, data_root, **train):
  config = tiny_config(family, data_root)
  set_num_steps(config, _STEPS)
  config.train.update(_FLAGS)
  config.train.update(train)
  return config


def _assert_same_run(family, data_root, runs):
  """The final states and results.json of the workdirs `runs` are equal, but for times."""
  return assert_same_runs(_config(family, data_root), runs)


def assert_same_runs(config, runs):
  """The final states (at `config`'s last step) and results.json of the workdirs `runs`,
  runs of `config`, are equal, but for times (tests/test_new_memories_loop.py uses it too)."""
  family_class = registry.family_class(config)
  family_object = family_class(config)
  states = [loop.restore(family_object, str(run)) for run in runs]
  assert [step for _, step in states] == [family_class.num_steps(config)] * len(runs)
  for state, _ in states[1:]:
    chex.assert_trees_all_equal(jax.device_get(states[0][0]), jax.device_get(state))
  results = [json.loads((run / "results.json").read_text()) for run in runs]
  for other in results[1:]:
    assert _comparable(results[0]) == _comparable(other)
  return results


# kbqa, long_range, mqar, haystack and babi_memnn (29 s) run with `-m slow` (the default suite
# has a 10-minute budget): their steps are the char_lm's, graph's and babi_recurrent's kind
# (babi_memnn's epochs resume through the same record), and tests/test_checkpoint_faults.py resumes the
# graph family from every kind of damaged checkpoint.
_SLOW_FAMILIES = ("kbqa", "long_range", "mqar", "haystack", "babi_memnn")


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in _SLOW_FAMILIES
                                    else f for f in FAMILIES])
def test_a_killed_run_relaunched_ends_as_an_unbroken_one(family, tmp_path):
  data_root = write_data(tmp_path / "data")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  in_process = family != "algorithmic"
  reference = None
  if in_process:
    loop.train_and_evaluate(_config(family, data_root), str(tmp_path / "straight"))
  else:
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace(
        "--xla_backend_optimization_level=0", "").strip()
    # The uninterrupted reference run goes alongside the one to be killed (CI has two cores).
    reference = subprocess.Popen(_command(family, data_root, tmp_path / "straight"), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
  killed = tmp_path / "killed"
  process = subprocess.Popen(_command(family, data_root, killed), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    steps = [int(p.name) for p in killed.glob("checkpoints/*") if p.name.isdigit()]
    if steps and max(steps) >= 50:
      break
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
  def relaunch(**train):
    if in_process:
      return loop.train_and_evaluate(_config(family, data_root, **train), str(killed))
    flags = [f"--config.train.{k}={v}" for k, v in train.items()]
    done = subprocess.run(_command(family, data_root, killed) + flags, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((killed / "results.json").read_text())

  if in_process:  # (the algorithmic family's stop_at_step: tests/test_algorithmic.py)
    stopped = relaunch(stop_at_step=137)
    assert stopped["launch"]["resumed_from_step"] >= 50
    assert stopped["steps"] == 137 and stopped["stop_reason"] == "train.stop_at_step=137 reached"
    assert relaunch()["launch"]["resumed_from_step"] == 137
  else:
    assert relaunch()["launch"]["resumed_from_step"] >= 50
  if reference is not None:
    assert reference.wait(timeout=600) == 0
  _assert_same_run(family, data_root, [tmp_path / "straight", killed])
