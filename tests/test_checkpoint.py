"""Checkpointer: partial restores, fallback past unreadable checkpoints, and setting those aside."""
import numpy as np
import pytest

from memjax.training.checkpoint import CheckpointError, Checkpointer


def _state(step, optimizer):
  params = {"dense": {"kernel": np.full((3, 2), float(step), np.float32)},
            "bias": np.arange(2, dtype=np.float32) + step}
  return {"step": np.asarray(step, np.int32), "params": params, "opt_state": optimizer}


def _corrupt(step_dir):
  for path in step_dir.rglob("*"):
    if path.is_file() and path.stat().st_size > 0 and "metadata" not in path.name:
      path.write_bytes(b"\x00garbage")


def test_parameters_load_from_a_checkpoint_with_another_optimizer_state(tmp_path, capsys):
  """An older trainer's optimizer state (here: one array) against today's (a nested dict)."""
  checkpointer = Checkpointer(str(tmp_path))
  for step in (1, 2):
    checkpointer.save(step, _state(step, optimizer=np.zeros(4, np.float32)))
  today = _state(0, optimizer={"count": np.zeros((), np.int32), "mu": np.zeros((3, 2), np.float32)})
  with pytest.raises(CheckpointError, match="every one failed to restore"):
    checkpointer.restore_latest(today)  # the whole state cannot load
  restored, step = checkpointer.restore_latest({"params": today["params"]}, partial=True)
  assert step == 2 and sorted(restored) == ["params"]
  np.testing.assert_array_equal(restored["params"]["dense"]["kernel"], np.full((3, 2), 2.0))
  np.testing.assert_array_equal(restored["params"]["bias"], [2.0, 3.0])
  # A corrupt newest checkpoint: the partial restore falls back to the previous one, and says so.
  _corrupt(checkpointer.step_path(2))
  restored, step = checkpointer.restore_latest({"params": today["params"]}, partial=True)
  assert step == 1
  np.testing.assert_array_equal(restored["params"]["bias"], [1.0, 2.0])
  assert f"checkpoint {checkpointer.step_path(2)} is corrupt" in capsys.readouterr().out
  checkpointer.close()


def test_partial_restore_of_an_empty_directory_is_none(tmp_path):
  checkpointer = Checkpointer(str(tmp_path))
  assert checkpointer.restore_latest({"params": {"w": np.zeros(2)}}, partial=True) == (None, None)
  checkpointer.close()


def test_unreadable_checkpoints_are_set_aside_only_when_asked(tmp_path, capsys):
  directory = tmp_path / "checkpoints"
  checkpointer = Checkpointer(str(directory))
  for step in (1, 2, 3):
    checkpointer.save(step, _state(step, optimizer=np.zeros(4, np.float32)))
  _corrupt(checkpointer.step_path(3))
  template = _state(0, optimizer=np.zeros(4, np.float32))
  assert checkpointer.restore_latest(template)[1] == 2  # a reader leaves step 3 where it is
  assert checkpointer.step_path(3).is_dir()
  restored, step = checkpointer.restore_latest(template, set_aside_unreadable=True)
  assert step == 2 and checkpointer.all_steps() == [1, 2]
  assert (tmp_path / "unreadable_checkpoints" / "3").is_dir()
  assert "moved unreadable checkpoint" in capsys.readouterr().out
  assert checkpointer.save(3, _state(3, optimizer=np.zeros(4, np.float32)))  # saved anew
  assert checkpointer.restore_latest(template)[1] == 3
  # With every checkpoint unreadable nothing moves, and the error says what to do.
  for step in checkpointer.all_steps():
    _corrupt(checkpointer.step_path(step))
  with pytest.raises(CheckpointError,
                     match=f"no readable checkpoint in {directory}.*new --workdir"):
    checkpointer.restore_latest(template, set_aside_unreadable=True)
  assert checkpointer.all_steps() == [1, 2, 3]
  checkpointer.close()
