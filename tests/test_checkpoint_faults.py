"""Damaged checkpoints, a full disk and a damaged config.json: a relaunch says what is wrong in
one line and carries on from what is intact, never from corrupt numbers.

A tiny graph run of 30 steps, checkpointed every 5 (3 kept), is stopped at step 20 (holding
checkpoints 10, 15 and 20). Its newest checkpoint is then broken in each way a disk or a
person can break it, and the relaunch must resume from step 15, print one warning line naming
step 20's folder, and end bit-identical (parameters and results.json) to an unbroken run.
With every checkpoint broken the launch refuses in one line. A save that finds the disk full
(injected, and on a real tmpfs when this process may mount one) stops in one line saying how
much to free, leaves no unfinished folder, and a relaunch resumes from the last complete one.
A garbage config.json is named, with what to do.
"""
import errno
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import chex
import jax
import pytest
from absl import logging as absl_logging

from memjax import checkpoint as checkpoint_lib
from memjax import launch
from memjax.errors import ConfigError
from memjax.training import loop, registry
from memjax.training.workdir import load_config
from tests.family_configs import set_num_steps, tiny_config, write_data
from tests.test_loop import _comparable

# Its tests share one module-scoped training run: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("checkpoint_fault_runs")

ROOT = pathlib.Path(__file__).resolve().parent.parent
_FAMILY = "graph"  # the fastest family to relaunch (a quarter second once compiled)
_STEPS, _STOPPED_AT, _PREVIOUS = 30, 20, 15
# Evaluations at 10, 20 and 30: the stopped run's last step is an evaluation step too, which a
# run cut by train.stop_at_step must record as the uncut run does.
_TRAIN = {"log_every": 10, "eval_every": 10, "checkpoint_every": 5, "keep_checkpoints": 3}


def _config(data_root, **train):
  config = tiny_config(_FAMILY, data_root)
  set_num_steps(config, _STEPS)
  config.train.update(_TRAIN)
  config.train.update(train)
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The unbroken run and the one stopped at step 20, each trained once for the module."""
  root = tmp_path_factory.mktemp("runs")
  data_root = write_data(root / "data")
  loop.train_and_evaluate(_config(data_root), str(root / "straight"))
  loop.train_and_evaluate(_config(data_root, stop_at_step=_STOPPED_AT), str(root / "stopped"))
  return data_root, root / "straight", root / "stopped"


def _final_state(data_root, workdir):
  config = _config(data_root)
  state, step = loop.restore(registry.family_class(config)(config), str(workdir))
  assert step == _STEPS
  return jax.device_get(state)


def _comparable_results(workdir):
  results = _comparable(json.loads((pathlib.Path(workdir) / "results.json").read_text()))
  results.pop("provenance", None)  # how the process was made (command line, versions)
  return results


def _assert_same_as_unbroken(data_root, straight, workdir):
  chex.assert_trees_all_equal(_final_state(data_root, straight), _final_state(data_root, workdir))
  assert _comparable_results(workdir) == _comparable_results(straight)


# ---------------------------------------------------------------------------------------------
# Ways to break a step folder `<workdir>/checkpoints/<step>`.

def _array_files(folder):
  """orbax's array data files (OCDBT's `d/` folders: the process's own and the merged one)."""
  files = [path for path in (folder / "default").rglob("*")
           if path.is_file() and path.parent.name == "d"]
  assert files, f"no array files under {folder}"
  return sorted(files)


def _empty(folder):
  shutil.rmtree(folder)
  folder.mkdir()


def _remove_default(folder):
  shutil.rmtree(folder / "default")


def _truncate_arrays(folder):
  for path in _array_files(folder):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _flip_bytes(folder, data_root):
  """16 bytes of a parameter array inverted where orbax stores them. (Arrays this small sit in
  OCDBT's b-tree nodes, whose CRC catches it; flips in larger arrays, stored apart, only
  memjax's checksums catch: tests/test_checkpoint.py.)"""
  config = _config(data_root)
  state, step = loop.restore(registry.family_class(config)(config), str(folder.parent.parent))
  assert step == int(folder.name)
  flipped = 0
  for leaf in jax.tree_util.tree_leaves(jax.device_get(state.params)):
    pattern = leaf.tobytes()[:16]
    for path in _array_files(folder):
      data = bytearray(path.read_bytes())
      where = data.find(pattern) if len(pattern) == 16 else -1
      if where >= 0:
        data[where:where + 16] = bytes(b ^ 0xFF for b in pattern)
        path.write_bytes(bytes(data))
        flipped += 1
    if flipped:
      return
  raise AssertionError(f"no parameter's bytes found in the files of {folder}")


def _delete_checksums(folder):
  (folder / checkpoint_lib.CHECKSUM_FILE).unlink()


def _garbage_checksums(folder):
  (folder / checkpoint_lib.CHECKSUM_FILE).write_text("{\"params/w\": [1, 2]")


def _delete_orbax_metadata(folder):
  (folder / "default" / "_METADATA").unlink()


def _garbage_loop_record(folder):
  (folder / checkpoint_lib.RECORD_FILE).write_text("garbage\n")


_FAULTS = {"folder emptied": _empty, "default/ removed": _remove_default,
           "arrays truncated": _truncate_arrays, "bytes flipped in an array": _flip_bytes,
           "checksum file deleted": _delete_checksums,
           "checksum file garbage": _garbage_checksums,
           "orbax metadata deleted": _delete_orbax_metadata,
           "loop record garbage": _garbage_loop_record}


def _lines_naming(output, path):
  return [line for line in output.splitlines() if str(path) in line]


@pytest.mark.parametrize("fault", sorted(_FAULTS))
def test_a_broken_newest_checkpoint_is_set_aside_and_the_run_ends_as_an_unbroken_one(
    fault, runs, tmp_path, capfd):
  data_root, straight, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  broken = workdir / "checkpoints" / str(_STOPPED_AT)
  if fault == "bytes flipped in an array":
    _flip_bytes(broken, data_root)
  else:
    _FAULTS[fault](broken)
  capfd.readouterr()
  results = loop.train_and_evaluate(_config(data_root), str(workdir))
  out, err = capfd.readouterr()
  assert results["launch"]["resumed_from_step"] == _PREVIOUS
  warnings = _lines_naming(out + err, broken)
  assert len(warnings) == 1 and warnings[0].startswith("WARNING: checkpoint"), out + err
  assert "Traceback" not in out + err
  assert (workdir / "unreadable_checkpoints" / str(_STOPPED_AT)).is_dir()
  _assert_same_as_unbroken(data_root, straight, workdir)


def test_with_every_checkpoint_broken_the_launch_refuses_in_one_line(runs, tmp_path, capfd):
  data_root, _, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  for step, fault in zip((10, 15, 20), (_garbage_checksums, _truncate_arrays, _empty)):
    fault(workdir / "checkpoints" / str(step))
  with pytest.raises(SystemExit) as exit_info, launch.one_line_errors():
    loop.train_and_evaluate(_config(data_root), str(workdir))
  message = str(exit_info.value.code)
  assert message.startswith("error: no readable checkpoint in") and "\n" not in message
  assert str(workdir) in message
  out, err = capfd.readouterr()
  assert "Traceback" not in out + err
  for step in (10, 15, 20):  # one warning each, and nothing moved: the user decides
    assert len(_lines_naming(out, workdir / "checkpoints" / str(step))) == 1
    assert (workdir / "checkpoints" / str(step)).is_dir()


# ---------------------------------------------------------------------------------------------
# A full disk.

def _run_out_of_space_in_orbax(monkeypatch, at_step):
  """orbax's save of `at_step` fails as on a full disk: its unfinished folder left behind, a
  writer thread's logged traceback, and an error raised from OSError(ENOSPC)."""
  real_save = checkpoint_lib.ocp.CheckpointManager.save

  def save(manager, step, *args, **kwargs):
    if step != at_step:
      return real_save(manager, step, *args, **kwargs)
    unfinished = pathlib.Path(manager.directory) / f"{step}.orbax-checkpoint-tmp" / "default"
    unfinished.mkdir(parents=True)
    (unfinished / "manifest.ocdbt").write_bytes(b"\0" * 1000)
    absl_logging.error("_SignalingThread.run() raised an exception: RESOURCE_EXHAUSTED: "
                       "Error writing local file: No space left on device")
    try:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as error:
      raise ValueError("RESOURCE_EXHAUSTED: Error writing local file") from error

  monkeypatch.setattr(checkpoint_lib.ocp.CheckpointManager, "save", save)


def _run_out_of_space_beside(monkeypatch, at_step):
  """orbax completes the save of `at_step`, then memjax's checksums find the disk full."""
  real_write = checkpoint_lib.Checkpointer._write_beside

  def write_beside(checkpointer, step, *args):
    if step == at_step:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_write(checkpointer, step, *args)

  monkeypatch.setattr(checkpoint_lib.Checkpointer, "_write_beside", write_beside)


@pytest.mark.parametrize("where", ["in orbax", "beside orbax"])
def test_a_full_disk_during_a_save_is_one_line_and_a_relaunch_resumes(
    where, runs, tmp_path, capfd, monkeypatch):
  data_root, straight, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  full_at = 25
  with monkeypatch.context() as patch:
    if where == "in orbax":
      _run_out_of_space_in_orbax(patch, full_at)
    else:
      _run_out_of_space_beside(patch, full_at)
    capfd.readouterr()
    with pytest.raises(SystemExit) as exit_info, launch.one_line_errors():
      loop.train_and_evaluate(_config(data_root), str(workdir))
  message = str(exit_info.value.code)
  out, err = capfd.readouterr()
  assert "\n" not in message and message.startswith("error: no space left"), message
  assert str(workdir) in message and re.search(r"free at least [0-9.]+ KB more", message)
  assert f"resume from checkpoint {_STOPPED_AT}" in message
  assert "RESOURCE_EXHAUSTED" not in out + err and "Traceback" not in out + err, out + err
  # No trace of step 25 is left; orbax, having completed it, had already dropped the oldest.
  kept = ["10", "15", "20"] if where == "in orbax" else ["15", "20"]
  assert sorted(path.name for path in (workdir / "checkpoints").iterdir()) == kept
  # Space freed, the relaunch resumes from the last complete checkpoint and ends as unbroken.
  results = loop.train_and_evaluate(_config(data_root), str(workdir))
  assert results["launch"]["resumed_from_step"] == _STOPPED_AT
  _assert_same_as_unbroken(data_root, straight, workdir)


def test_unfinished_save_folders_are_removed_by_the_next_run(runs, tmp_path, capfd):
  data_root, straight, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  unfinished = workdir / "checkpoints" / "25.orbax-checkpoint-tmp"
  (unfinished / "default").mkdir(parents=True)
  loop.train_and_evaluate(_config(data_root), str(workdir))
  assert not unfinished.exists()
  assert f"removed {unfinished}" in capfd.readouterr().out
  _assert_same_as_unbroken(data_root, straight, workdir)


def test_a_save_killed_before_its_checksums_moved_in_is_completed_by_the_next_run(
    runs, tmp_path, monkeypatch):
  """orbax renames the step folder into place, then memjax moves the checksums and record in
  from `<step>.memjax_pending.json`: a kill in between must not cost the step."""
  data_root, straight, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  with monkeypatch.context() as patch:  # as if killed right after orbax's save of step 25
    real_write = checkpoint_lib.Checkpointer._write_beside
    patch.setattr(checkpoint_lib.Checkpointer, "_write_beside",
                  lambda checkpointer, step: None if step == 25 else real_write(checkpointer, step))
    loop.train_and_evaluate(_config(data_root, stop_at_step=25), str(workdir))
  checkpoints = workdir / "checkpoints"
  assert not (checkpoints / "25" / checkpoint_lib.CHECKSUM_FILE).exists()
  assert (checkpoints / "25.memjax_pending.json").exists()
  config = _config(data_root)
  reader = loop.restore(registry.family_class(config)(config), str(workdir))
  assert reader[1] == 20  # a reader does not trust step 25 without its checksums in place
  results = loop.train_and_evaluate(_config(data_root), str(workdir))
  assert results["launch"]["resumed_from_step"] == 25
  assert not (checkpoints / "25.memjax_pending.json").exists()
  _assert_same_as_unbroken(data_root, straight, workdir)


@pytest.fixture
def small_tmpfs(tmp_path):
  """A 300 KB tmpfs (two checkpoints of the run and its logs fit, a third does not)."""
  mount_point = tmp_path / "tmpfs"
  mount_point.mkdir()
  if not hasattr(os, "geteuid") or os.geteuid() != 0:
    pytest.skip("mounting a tmpfs needs root (mount -t tmpfs); the injected ENOSPC tests above "
                "cover the save path")
  done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount_point)],
                        capture_output=True, text=True)
  if done.returncode != 0:
    pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
  yield mount_point
  subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_real_full_disk_stops_the_launcher_in_one_line(runs, small_tmpfs):
  data_root, straight, _ = runs
  workdir = small_tmpfs / "run"
  command = [sys.executable, str(ROOT / "experiments" / "train.py"),
             f"--config={ROOT / 'tests' / 'family_configs.py'}:{_FAMILY},{data_root},{_STEPS}",
             f"--workdir={workdir}"] + [f"--config.train.{k}={v}" for k, v in _TRAIN.items()]
  done = subprocess.run(command, capture_output=True, text=True,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  output = done.stdout + done.stderr
  assert done.returncode == 1, output
  errors = [line for line in output.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and errors[0].startswith("error: no space left"), output
  assert str(workdir) in errors[0] and re.search(r"free at least [0-9.]+ KB more", errors[0])
  assert "Traceback" not in output and "RESOURCE_EXHAUSTED" not in output, output
  assert not list((workdir / "checkpoints").glob("*.orbax-checkpoint-tmp*"))
  complete = sorted(int(path.name) for path in (workdir / "checkpoints").iterdir())
  assert complete and complete[-1] < _STEPS
  # Space freed: the relaunch resumes from the last complete checkpoint and ends as unbroken.
  subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
  results = loop.train_and_evaluate(_config(data_root), str(workdir))
  assert results["launch"]["resumed_from_step"] == complete[-1]
  _assert_same_as_unbroken(data_root, straight, workdir)


# ---------------------------------------------------------------------------------------------
# A damaged config.json.

@pytest.mark.parametrize("content", ["{\"model.name\": ", "[1, 2]", "\xff\xfe"])
def test_a_garbage_config_json_is_named_with_what_to_do(runs, tmp_path, content):
  data_root, _, stopped = runs
  workdir = tmp_path / "run"
  shutil.copytree(stopped, workdir)
  (workdir / "config.json").write_bytes(content.encode("latin-1"))
  for read in (lambda: load_config(str(workdir)),  # evaluation, plots, sampling
               lambda: loop.train_and_evaluate(_config(data_root), str(workdir))):  # a relaunch
    with pytest.raises(ConfigError) as error:
      read()
    message = str(error.value)
    assert str(workdir / "config.json") in message and "\n" not in message
    assert "remove it" in message and "new --workdir" in message
