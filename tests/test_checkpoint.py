"""Checkpointer: partial restores, fallback past unreadable checkpoints, and setting those aside."""
import numpy as np
import pytest

from memjax.checkpoint import CheckpointError, Checkpointer


def _state(step, optimizer):
  params = {"dense": {"kernel": np.full((3, 2), float(step), np.float32)},
            "bias": np.arange(2, dtype=np.float32) + step}
  return {"step": np.asarray(step, np.int32), "params": params, "opt_state": optimizer}


def _corrupt(step_dir):
  """Garbage in orbax's files, so that orbax itself fails to read them (memjax's are kept)."""
  for path in step_dir.rglob("*"):
    if (path.is_file() and path.stat().st_size > 0 and "metadata" not in path.name
        and not path.name.startswith("memjax_")):
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


def _flip_bytes_inside_the_largest_data_file(step_dir):
  """Damage that orbax cannot notice: array bytes changed in place, every file still parses."""
  largest = max((path for path in step_dir.rglob("*") if path.is_file()
                 and path.parent.name == "d"), key=lambda path: path.stat().st_size)
  data = bytearray(largest.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
  largest.write_bytes(bytes(data))


def test_bytes_flipped_inside_an_array_are_caught_by_the_checksums(tmp_path, capsys):
  from memjax.training.family import TrainState

  def train_state(step):  # the loop's own state type, a NamedTuple of arrays
    weights = np.random.default_rng(step).standard_normal((64, 256)).astype(np.float32)
    return TrainState(step=np.asarray(step, np.int32), params={"w": weights},
                      opt_state={"mu": np.zeros((64, 256), np.float32)}, carry=(),
                      rng=np.zeros((1, 2), np.uint32), nonfinite_streak=np.zeros(1, np.int32),
                      nonfinite_total=np.zeros(1, np.int32))

  checkpointer = Checkpointer(str(tmp_path / "checkpoints"))
  for step in (1, 2):
    checkpointer.save(step, train_state(step))
  assert (checkpointer.step_path(2) / "memjax_checksums.json").exists()
  _flip_bytes_inside_the_largest_data_file(checkpointer.step_path(2))
  restored, step = checkpointer.restore_latest(train_state(0))
  assert step == 1  # not the damaged step 2, which orbax alone restores as other numbers
  np.testing.assert_array_equal(restored[1]["w"], train_state(1).params["w"])
  out = capsys.readouterr().out
  assert f"checkpoint {checkpointer.step_path(2)} is corrupt" in out
  assert "does not match its checksum" in out
  # The parameters alone (evaluation's partial restore) are checked as well.
  restored, step = checkpointer.restore_latest({"params": train_state(0).params}, partial=True)
  assert step == 1
  checkpointer.close()


def test_checksums_do_not_depend_on_the_layout_and_see_single_bits_and_swaps():
  from memjax.checkpoint import state_checksums
  x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
  reference = state_checksums({"x": x})["x"]
  assert state_checksums({"x": np.ascontiguousarray(x)})["x"] == reference
  one_bit = x.copy()
  one_bit.view(np.uint32)[3, 1] ^= 1  # the lowest mantissa bit of one number
  assert state_checksums({"x": one_bit})["x"][0] != reference[0]
  swapped = x.copy()
  swapped[[0, 1]] = swapped[[1, 0]]  # same numbers, other places: only the weighted sum sees it
  sums = state_checksums({"x": swapped})["x"]
  assert sums[0] == reference[0] and sums[1] != reference[1]
  for leaf in (np.arange(5, dtype=np.int8), np.array([True, False]), np.zeros(3, np.float16)):
    assert len(state_checksums({"leaf": leaf})["leaf"]) == 2


def test_after_a_failed_restore_only_orbax_leftover_tracebacks_are_dropped(tmp_path):
  """orbax's unfinished reads print 'Exception ignored in ...' by the hundred when finalised;
  those two messages are dropped, every other unraisable exception reaches the earlier hook."""
  import sys
  import types

  previous, received = sys.unraisablehook, []
  sys.unraisablehook = lambda unraisable: received.append(str(unraisable.exc_value))
  try:
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save(1, _state(1, optimizer=np.zeros(4, np.float32)))
    _corrupt(checkpointer.step_path(1))
    with pytest.raises(CheckpointError):
      checkpointer.restore_latest(_state(0, optimizer=np.zeros(4, np.float32)))
    checkpointer.close()
    received.clear()  # whatever the failed restore itself left so far
    for error in (RuntimeError("Event loop is closed"),
                  Exception("Encountered error while reading array index: (slice(0, 1, 1),)"),
                  ValueError("a real problem elsewhere")):
      sys.unraisablehook(types.SimpleNamespace(exc_type=type(error), exc_value=error,
                                               exc_traceback=None, err_msg=None, object=None))
    assert received == ["a real problem elsewhere"]
  finally:
    sys.unraisablehook = previous
