"""The tape memory of docs/writing_a_core.md (examples/tape_memory.py): its maths against a
NumPy reference, the core contract (`check_core`, scan = Python loop, jit = eager), sizes
refused in one line where the trainer meets them, and a tiny run that trains, plots and
loads through memjax's own entry points."""
import functools
import importlib.util
import pathlib
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import memjax
from configs import copy_ntm
from memjax import plots
from memjax.cores import check_core, dynamic_unroll, init_core, initial_carry, static_unroll
from memjax.cores.registry import _CORES, _SOURCES
from memjax.errors import ConfigError
from memjax.training import loop
from memjax.training.families.algorithmic import AlgorithmicFamily

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tape_memory.py"
BATCH, INPUT, OUTPUT = 3, 5, 4


@pytest.fixture(scope="module")
def tape():
  """The example module, imported from its file as `--import` runs it (it registers the core)."""
  spec = importlib.util.spec_from_file_location("tape_memory_example", EXAMPLE)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # so register_core can find the file that defines the core
  spec.loader.exec_module(module)
  yield module
  _CORES.pop("tape_memory", None)
  _SOURCES.pop("tape_memory", None)
  sys.modules.pop(spec.name, None)


def small_core(tape, **fields):
  return tape.TapeMemory(output_size=OUTPUT, **{"tape_size": 6, "width": 3,
                                                 "controller_size": 8, **fields})


# ---------------------------------------------------------------------------------------------
# The maths, against NumPy.

def np_move_head(head, actions):
  moved = np.zeros_like(head)
  size = len(head)
  for cell in range(size):
    moved[cell] = (actions[0] * head[(cell + 1) % size] + actions[1] * head[cell]
                   + actions[2] * head[(cell - 1) % size] + actions[3] * (cell == 0))
  return moved


def np_write_tape(tape, head, erase, add, gate):
  out = tape.copy()
  for cell in range(tape.shape[0]):
    for j in range(tape.shape[1]):
      out[cell, j] = (tape[cell, j] * (1 - gate * head[cell] * erase[j])
                      + gate * head[cell] * add[j])
  return out


def test_move_write_read_match_numpy(tape):
  rng = np.random.default_rng(0)
  head = rng.dirichlet(np.ones(7))
  actions = rng.dirichlet(np.ones(4))
  moved = np.asarray(tape.move_head(jnp.asarray(head), jnp.asarray(actions)))
  np.testing.assert_allclose(moved, np_move_head(head, actions), rtol=1e-5, atol=1e-6)
  assert moved.sum() == pytest.approx(1.0, abs=1e-5)
  # "right" alone moves every cell's weight one cell on (the last wraps to cell 0).
  np.testing.assert_allclose(tape.move_head(jnp.eye(7)[6], jnp.array([0., 0., 1., 0.])),
                             np.eye(7)[0])
  table = rng.normal(size=(7, 3))
  erase, add, gate = rng.uniform(size=3), rng.normal(size=3), 0.7
  written = tape.write_tape(*map(jnp.asarray, (table, moved, erase, add, gate)))
  np.testing.assert_allclose(written, np_write_tape(table, moved, erase, add, gate), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(tape.read_tape(written, jnp.asarray(moved)),
                             np.einsum("n,nw->w", moved, np.asarray(written)), rtol=1e-5,
                             atol=1e-6)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def np_step(params, carry, inputs):
  """One step of the core in NumPy from its parameters (the module docstring's equations)."""
  dense = lambda name, x: x @ np.asarray(params[name]["kernel"]) + np.asarray(params[name]["bias"])
  hidden, cell = np.asarray(carry.controller.hidden), np.asarray(carry.controller.cell)
  # memjax's LSTM: [i, f, g, o] = W [x, h_{t-1}] + b, with x = [inputs, r_{t-1}] here.
  gates = (np.concatenate([inputs, np.asarray(carry.read), hidden], -1)
           @ np.asarray(params["LSTM_0"]["gates"]["kernel"])
           + np.asarray(params["LSTM_0"]["gates"]["bias"]))
  i, f, g, o = np.split(gates, 4, axis=-1)
  cell = _sigmoid(f + 1.0) * cell + _sigmoid(i) * np.tanh(g)   # forget bias 1
  hidden = _sigmoid(o) * np.tanh(cell)
  logits = dense("actions", hidden)
  actions = np.exp(logits - logits.max(-1, keepdims=True))
  actions /= actions.sum(-1, keepdims=True)
  erase, add = _sigmoid(dense("erase", hidden)), np.tanh(dense("add", hidden))
  gate = _sigmoid(dense("gate", hidden))[:, 0]
  heads, tapes, reads = [], [], []
  for b in range(inputs.shape[0]):
    head = np_move_head(np.asarray(carry.head[b]), actions[b])
    table = np_write_tape(np.asarray(carry.tape[b]), head, erase[b], add[b], gate[b])
    heads.append(head)
    tapes.append(table)
    reads.append(head @ table)
  read = np.stack(reads)
  outputs = dense("output", np.concatenate([hidden, read], -1))
  return (hidden, cell, np.stack(tapes), np.stack(heads), read), outputs


def test_three_steps_of_the_core_match_numpy(tape):
  core = small_core(tape)
  variables = init_core(core, jax.random.PRNGKey(0), (BATCH, INPUT))
  carry = initial_carry(core, variables, jax.random.PRNGKey(1), (BATCH, INPUT))
  np.testing.assert_array_equal(carry.head, np.eye(6)[[0, 0, 0]])   # every head starts home
  xs = np.random.default_rng(2).normal(size=(3, BATCH, INPUT)).astype(np.float32)
  for x in xs:
    expected_carry, expected_outputs = np_step(variables["params"], carry, x)
    carry, outputs = core.apply(variables, carry, jnp.asarray(x))
    got = (carry.controller.hidden, carry.controller.cell, carry.tape, carry.head, carry.read)
    for name, a, b in zip(("hidden", "cell", "tape", "head", "read"), got, expected_carry):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The contract.

def test_keeps_the_core_contract(tape):
  check_core(small_core(tape), (BATCH, INPUT), OUTPUT)


def test_scan_equals_python_loop_and_jit_equals_eager(tape):
  core = small_core(tape)
  variables = init_core(core, jax.random.PRNGKey(0), (BATCH, INPUT))
  carry = initial_carry(core, variables, jax.random.PRNGKey(1), (BATCH, INPUT))
  xs = jnp.asarray(np.random.default_rng(3).normal(size=(BATCH, 7, INPUT)), jnp.float32)
  resets = jnp.zeros((BATCH, 7), bool).at[1, 4].set(True)
  step = functools.partial(core.apply, variables)
  scanned = jax.jit(lambda x: dynamic_unroll(step, x, carry, resets))(xs)
  looped = static_unroll(step, xs, carry, resets)
  chex.assert_trees_all_close(scanned, looped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field,value,message", [
    ("tape_size", 1, r"model.tape_size=1 must be an integer >= 2 \(a head that moves"),
    ("width", 0, "model.width=0 must be an integer >= 1"),
    ("controller_size", 0, "model.controller_size=0 must be an integer >= 1"),
])
def test_bad_sizes_are_one_line_before_anything_runs(tape, field, value, message):
  with pytest.raises(ConfigError, match=f"^TapeMemory: {message}"):
    check_core(small_core(tape, **{field: value}), (BATCH, INPUT), OUTPUT)
  with pytest.raises(ConfigError, match=f"^TapeMemory: {message}"):  # unbound, as in a notebook
    small_core(tape, **{field: value}).initialize_carry(jax.random.PRNGKey(0), (BATCH, INPUT))
  config = copy_ntm.get_config("tape_memory")          # the trainer: one line, nothing compiled
  config.model[field] = value
  with pytest.raises(ConfigError, match=message):
    AlgorithmicFamily(config)


def test_the_copy_config_takes_any_registered_core_with_its_defaults(tape):
  config = copy_ntm.get_config("tape_memory")
  assert dict(config.model) == {"name": "tape_memory", "tape_size": 32, "width": 16,
                                "controller_size": 64}
  with pytest.raises(ValueError, match=r"copy_ntm.py:tape_memry: 'tape_memry' is not a "
                                       r"registered core"):
    copy_ntm.get_config("tape_memry")
  ntm_block = copy_ntm.get_config()
  ntm_block.model.name = "tape_memory"   # the NTM's fields left behind: say what to do
  with pytest.raises(ConfigError, match=r"model.clip_value is not a field of core 'tape_memory'.*"
                                        r"--config=configs/copy_ntm.py:tape_memory"):
    AlgorithmicFamily(ntm_block)


# ---------------------------------------------------------------------------------------------
# Train, plot, load.

def test_trains_plots_and_loads(tape, tmp_path):
  config = copy_ntm.get_config("tape_memory")
  config.model.update(tape_size=6, width=3, controller_size=8)
  config.task.update(min_length=1, max_length=3, num_bits=3)
  config.train.update(batch_size=4, num_steps=3, log_every=3, eval_every=1000,
                      eval_batch_size=8, target_error=-1.0, checkpoint_every=0)
  config.eval.lengths = ()
  results = loop.train_and_evaluate(config, str(tmp_path))
  assert results["model"] == "tape_memory" and results["steps"] == 3
  written = plots.render_run(str(tmp_path), tensorboard=False)
  assert [pathlib.Path(p).name for p in written] == ["example_seed0.png", "memory_seed0.png",
                                                      "loss.png"]
  run = memjax.load(str(tmp_path))
  assert isinstance(run.model, tape.TapeMemory) and run.model.tape_size == 6
  # A fresh notebook has not registered the core: the error names the file, `imports` runs it.
  del _CORES["tape_memory"]
  with pytest.raises(ConfigError, match=f"^memjax.load: model.name='tape_memory' is not a "
                                        f"registered core .* from {EXAMPLE}: pass imports="):
    memjax.load(str(tmp_path))
  assert type(memjax.load(str(tmp_path), imports=[str(EXAMPLE)]).model).__name__ == "TapeMemory"
  views = plots.memory_views(run.model, jax.tree_util.tree_map(
      lambda leaf: np.asarray(leaf[0]), run.unroll(jnp.zeros((1, 5, 4)), return_carries=True)[1]))
  assert views["head weighting w_t"].values.shape == (6, 5)   # cells x time
  assert views["tape T after the last step"].ylabel == "tape cell"
