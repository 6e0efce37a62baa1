"""`memjax.load(workdir)`: a trained run's model, one seed's parameters and config, with
`apply`/`unroll`; one clear line for a workdir that is missing, not a run, or unfinished."""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import memjax
from configs import copy_ntm
from memjax.cores import NTM
from memjax.errors import ConfigError
from memjax.training import loop
from memjax.training.family import one_seed

# Its tests share one module-scoped training run: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("load_run")


def tiny_config():
  config = copy_ntm.get_config()
  config.task.min_length, config.task.max_length, config.task.num_bits = 1, 3, 3
  config.model.update(memory_size=6, word_size=4, controller_size=16)
  config.train.update(batch_size=4, num_steps=3, log_every=3, eval_every=1000,
                      eval_batch_size=8, target_error=-1.0, checkpoint_every=0)
  config.eval.lengths = ()
  config.num_seeds = 2
  return config


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  path = tmp_path_factory.mktemp("copy")
  loop.train_and_evaluate(tiny_config(), str(path))
  return path


def test_load_gives_model_params_config_and_runs_the_core(workdir):
  run = memjax.load(str(workdir))
  assert isinstance(run.model, NTM) and run.model.memory_size == 6
  assert run.seed == 0 and run.step == 3 and run.finished
  assert run.config.model.controller_size == 16 and run.config.num_seeds == 2
  with pytest.raises(dataclasses.FrozenInstanceError):
    run.seed = 1
  state, _ = loop.restore(run.family, str(workdir))
  jax.tree_util.tree_map(np.testing.assert_array_equal, run.params, one_seed(state.params, 0))
  # unroll: [batch, time, features] -> [batch, time, output_size], as the family computes it.
  batch = run.family.task.build(jax.random.PRNGKey(0), jnp.array([2, 3]), 3)
  rng = jax.random.PRNGKey(1)
  outputs, carries = run.unroll(batch.inputs, run.initial_carry(2, rng), return_carries=True)
  assert outputs.shape == batch.inputs.shape[:2] + (3,)
  assert carries.memory.shape == (2, batch.inputs.shape[1], 6, 4)
  np.testing.assert_allclose(outputs, run.family.logits(run.params, batch, rng), atol=1e-6)
  # apply: one step of the core.
  carry, step_outputs = run.apply(run.initial_carry(2, rng), batch.inputs[:, 0])
  np.testing.assert_allclose(step_outputs, outputs[:, 0], atol=1e-6)
  with pytest.raises(ValueError, match=r"inputs must be \[batch, time, 4\], got shape \(2, 4\)"):
    run.unroll(batch.inputs[:, 0])


def test_another_seed_is_that_slice_of_the_seed_axis(workdir):
  first, second = memjax.load(str(workdir)), memjax.load(str(workdir), seed=1)
  state, _ = loop.restore(second.family, str(workdir))
  jax.tree_util.tree_map(np.testing.assert_array_equal, second.params,
                         one_seed(state.params, 1))
  leaf = jax.tree_util.tree_leaves(first.params)[0]
  assert not np.array_equal(leaf, jax.tree_util.tree_leaves(second.params)[0])
  with pytest.raises(ConfigError, match=r"^memjax.load: seed=2, but the run in .* trained 2 "
                                        r"seed\(s\): use 0..1$"):
    memjax.load(str(workdir), seed=2)


def test_a_missing_or_unfinished_workdir_is_one_clear_line(tmp_path):
  with pytest.raises(ConfigError, match=r"^memjax.load: .*/nowhere is not a directory$"):
    memjax.load(str(tmp_path / "nowhere"))
  with pytest.raises(ConfigError, match="holds no config.json, so it is not a memjax run"):
    memjax.load(str(tmp_path))
  (tmp_path / "config.json").write_text(json.dumps({"experiment": "algorithmic"}))
  (tmp_path / "checkpoints").mkdir()
  with pytest.raises(ConfigError, match="holds no checkpoint yet: the run has not reached its "
                                        "first save"):
    memjax.load(str(tmp_path))
  with pytest.raises(ConfigError, match="imports: .*missing.py: no such file"):
    memjax.load(str(tmp_path), imports=[str(tmp_path / "missing.py")])
  # (a core of one's own, named by the error and registered by `imports=`:
  # tests/test_walkthrough_core.py)
