"""Data parallelism: 8 virtual CPU devices give the 1-device results for every family (the
algorithmic and char-LM ones in the default suite, the others behind `slow`); batch-size errors."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from memjax import parallel
from memjax.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _curves(*runs, env=None):
  # Appended, so the suite's XLA flags (tests/conftest.py) still apply.
  env = dict(os.environ, JAX_PLATFORMS="cpu", **(env or {}),
             XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                        + " --xla_force_host_platform_device_count=8").strip())
  result = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "parallel_losses.py"),
                           *runs], capture_output=True, text=True, env=env, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][0]
  return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def curves():
  return _curves("ntm_1", "lstm_1", "lm_xl")


def _check_run(curves, run):
  one, eight = curves[run]["1"], curves[run]["8"]
  np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-4, atol=1e-5)
  if run == "ntm_1":  # compiled HLO inspected for one run only (an extra compile each)
    assert eight["all_reduce"] and not one["all_reduce"]  # the 8-device step really is split
  assert "spec=P()" in eight["param_sharding"]   # parameters replicated
  assert len(eight["losses"]) == 6 and eight["losses"][0] != eight["losses"][-1]  # it trains


@pytest.mark.xdist_group("eight_device_curves")  # one worker runs the `curves` subprocess
@pytest.mark.parametrize("run", ["ntm_1", "lstm_1"])
def test_eight_devices_match_one_device(curves, run):
  _check_run(curves, run)


@pytest.mark.slow
def test_eight_devices_match_one_device_with_two_seeds_vmapped():
  _check_run(_curves("ntm_2"), "ntm_2")


def _check_lm_run(result, carries=True):
  one, eight = result["1"], result["8"]
  np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-4, atol=1e-5)
  assert eight["losses"][0] != eight["losses"][-1]  # it trains
  assert "spec=P()" in eight["param_sharding"]       # parameters replicated
  if carries:  # text: [seed, rows] memories, each device keeps its rows'
    assert "spec=P(None, 'data')" in eight["carry_sharding"]
  for name, value in one["eval"].items():           # validation is split the same way
    np.testing.assert_allclose(eight["eval"][name], value, rtol=1e-5)


@pytest.mark.xdist_group("eight_device_curves")
def test_char_lm_on_eight_devices_matches_one_device(curves):
  """Transformer-XL on text: the training rows and their memories split over 8 devices."""
  result = curves["lm_xl"]
  _check_lm_run(result)
  assert "spec=P('data',)" in result["8"]["streams_sharding"]  # the rows themselves are split
  assert result["8"]["eval_only"] == pytest.approx(result["8"]["eval"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["compressive", "long_range"])
def test_char_lm_on_eight_devices_matches_one_device_slow(kind):
  _check_lm_run(_curves(f"lm_{kind}")[f"lm_{kind}"], carries=kind != "long_range")


@pytest.mark.slow  # ~50 s
def test_babi_recurrent_dnc_on_eight_devices_matches_one_device():
  """The bAbI-recurrent family (DNC, 2 vmapped seeds): stories split over 8 devices."""
  result = _curves("babi_dnc")["babi_dnc"]
  one, eight = result["1"], result["8"]
  np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-4, atol=1e-5)
  assert "spec=P()" in eight["param_sharding"]
  assert "spec=P(None, 'data')" in eight["predictions_sharding"]  # seeds x split batch
  agree = np.mean(np.asarray(eight["predictions"]) == np.asarray(one["predictions"]))
  assert agree >= 0.98, agree  # argmax of equal logits (to float error)


@pytest.mark.slow  # ~25 s
def test_graph_trainer_on_eight_devices_matches_one_device():
  """The graph family (key-value memory on graph traversal) end to end on 8 devices."""
  result = _curves("graph_kv")["graph_kv"]
  one, eight = result["1"], result["8"]
  assert (one["devices"], eight["devices"]) == (1, 8)
  # Training batches (8) and evaluation chunks (250, padded to 256) are all split.
  assert eight["batch_specs"] == ["P('data',)"], eight["batch_specs"]
  np.testing.assert_allclose(eight["losses"], one["losses"], atol=2e-4)  # printed to 4 places
  assert eight["final"] == pytest.approx(one["final"]) and eight["history"] == one["history"]


@pytest.mark.slow  # ~30 s
def test_kbqa_on_six_devices_matches_one_device():
  """KB-QA (key-value memory): 6 devices, which split the step's 12 questions but not the
  1024-question evaluation chunks; those are padded to 1026, so every batch is split."""
  result = _curves("kbqa_kv_6")["kbqa_kv_6"]
  one, six = result["1"], result["6"]
  assert (one["devices"], six["devices"]) == (1, 6)
  assert six["batch_specs"] == ["P('data',)"], six["batch_specs"]
  np.testing.assert_allclose(six["losses"], one["losses"], atol=2e-4)  # printed to 4 places
  assert len(six["history"]) == len(one["history"]) >= 1
  for evaluation, reference in zip(six["history"], one["history"]):
    assert evaluation == pytest.approx(reference)
  assert six["final"] == pytest.approx(one["final"])


@pytest.mark.slow  # ~1 min; needs the shared bAbI data
def test_babi_memn2n_seeds_split_over_eight_devices_match_one_device():
  """The bAbI memory-network family: 8 seeds, one per device, train as on one device."""
  from tests.data_paths import require_shared_data
  babi_dir = require_shared_data("babi/tasks_1-20_v1-2")
  result = _curves("babi_memn2n", env={"MEMJAX_BABI_DIR": str(babi_dir)})["babi_memn2n"]
  one, eight = result["1"], result["8"]
  assert (one["devices"], eight["devices"]) == (1, 8)
  assert "spec=P('data',)" in eight["param_sharding"]  # each device holds its seed
  assert eight["loss"] == one["loss"] and eight["loss"]
  np.testing.assert_allclose(eight["test_error_pct"], one["test_error_pct"], atol=0.11)


def test_batch_that_does_not_split_evenly_is_named():
  class FakeMesh:
    shape = {parallel.DATA_AXIS: 8}
  with pytest.raises(ConfigError, match="train.batch_size=30 is not divisible by the 8 devices"):
    parallel.check_batch_size(30, FakeMesh())


def test_more_devices_than_exist_is_named():
  with pytest.raises(ConfigError, match="parallel.num_devices=4096"):
    parallel.make_mesh(4096)
