"""Bad input a user can reach with a flag, a file or the environment: one line naming the
culprit, or a correct result; never a traceback, a NaN reported as a result, or a silent
wrong answer.

- non-finite, non-positive or float32-overflowing learning rates are refused;
- a step whose loss and gradient are finite but whose update is not is skipped like any
  other NaN/Inf step, so no checkpoint holds a NaN;
- "last good checkpoint" is checked (finite parameters, finite loss), and a run with none
  ends in one line, not in NaN figures;
- every numeric key with a meaningful range, in every family and model, is checked before
  any training;
- a config file that raises, and a JAX platform that is not installed, are one line;
- runs shorter than their warm-up train; sampling a run with no checkpoint says so.
"""
import json
import math
import os
import pathlib
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.errors import ConfigError
from memjax.training import loop, optim, registry
from memjax.training.family import Family, new_state
from memjax.training.workdir import check_workdir
from tests.family_configs import load_config, set_num_steps, tiny_config, write_data

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  return write_data(tmp_path_factory.mktemp("data"))


def _launch(args, env=None, timeout=300):
  """`python <args>` from the repository root: (exit status, stderr lines, stdout)."""
  environment = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
  done = subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True,
                        text=True, timeout=timeout)
  return done.returncode, done.stderr.strip().splitlines(), done.stdout


def _set(config, key, value):
  *path, leaf = key.split(".")
  node = config
  for part in path:
    node = node[part]
  node[leaf] = value  # (a key the config lacks is added: the checks read it too)


# ---------------------------------------------------------------------------------------------
# 1. Learning rates, and updates that are not finite.

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -0.01, 1e300])
def test_learning_rates_that_cannot_train_are_refused(value, data_root, tmp_path):
  config = tiny_config("algorithmic", data_root)
  config.train.learning_rate = value
  with pytest.raises(ConfigError, match=r"^config\.train\.learning_rate=") as error:
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert "\n" not in str(error.value)
  assert not (tmp_path / "run").exists()


def test_a_nan_learning_rate_flag_is_one_line_and_a_failure(data_root, tmp_path):
  status, errors, _ = _launch(["experiments/train.py",
                               f"--config=tests/family_configs.py:algorithmic,{data_root},2",
                               f"--workdir={tmp_path / 'run'}",
                               "--config.train.learning_rate=nan"])
  assert status != 0
  assert errors == ["error: config.train.learning_rate=nan must be a finite number"], errors
  assert not (tmp_path / "run" / "checkpoints").exists()


class _ExplodingUpdate(Family):
  """A family whose loss and gradient norm are finite but whose update is not (as a huge
  learning rate gives): the guard must look at the new parameters and optimizer state."""
  name = "exploding_update"

  def __init__(self, config):
    self.config = config
    self.num_seeds = 2

  def __hash__(self):
    return 0

  def __eq__(self, other):
    return type(other) is type(self)

  def init_state(self):
    params = {"w": jnp.ones((2, 3))}
    return new_state(params, {"m": jnp.zeros((2, 3))}, (), jax.random.split(
        jax.random.PRNGKey(0), 2))

  def train_step(self, state, batch):
    # Seed 0's new parameters overflow, seed 1's optimizer state does; both losses are finite.
    params = {"w": state.params["w"] * jnp.array([[jnp.inf], [1.0]])}
    opt_state = {"m": state.opt_state["m"] + jnp.array([[0.0], [jnp.inf]])}
    return state._replace(params=params, opt_state=opt_state), {
        "loss": jnp.zeros((2,)), "grad_norm": jnp.ones((2,))}


def test_a_step_with_a_finite_loss_but_a_non_finite_update_is_skipped():
  family = _ExplodingUpdate(ml_collections.ConfigDict({"train": {}}))
  before = jax.device_get(family.init_state())
  state, metrics = loop.train_step(family, family.init_state())
  assert np.isfinite(np.asarray(metrics["loss"])).all()
  state = jax.device_get(state)
  np.testing.assert_array_equal(state.nonfinite_streak, [1, 1])
  np.testing.assert_array_equal(state.params["w"], before.params["w"])
  np.testing.assert_array_equal(state.opt_state["m"], before.opt_state["m"])
  assert int(state.step) == 1


# ---------------------------------------------------------------------------------------------
# 2. "Last good" means finite parameters and a finite loss.

def test_a_state_is_good_only_with_finite_parameters_and_loss(data_root):
  config = tiny_config("algorithmic", data_root)
  family = registry.family_class(config)(config)
  assert loop.is_good_state(family, family.init_state())
  state = family.init_state()
  poisoned = state._replace(params=jax.tree_util.tree_map(lambda p: p * jnp.nan, state.params))
  assert not loop.is_good_state(family, poisoned)


def _restore(workdir, family, step):
  from memjax import checkpoint as checkpoint_lib
  checkpointer = checkpoint_lib.Checkpointer(str(workdir / "checkpoints"))
  state = checkpointer.restore(step, loop._savable(family.init_state()))
  checkpointer.close()
  return state


def test_a_diverged_char_lm_names_a_checked_checkpoint_and_reports_no_nan(data_root, tmp_path):
  """A learning rate of 1e10: the loss is NaN from update 3 on. Checkpoint 2 (saved after the
  finite update 2) has finite parameters, but they give that NaN: the last good one is 1, and
  the final figures are its own. Saved only at 2, there is none: one line, no NaN figures."""
  config = tiny_config("char_lm", data_root)
  set_num_steps(config, 30)
  config.train.update(learning_rate=1e10, max_consecutive_nonfinite=3, checkpoint_every=1)
  workdir = tmp_path / "every_step"
  results = loop.train_and_evaluate(config, str(workdir))
  assert results["stop_reason"].endswith(f"last good checkpoint: {workdir / 'checkpoints' / '1'}")
  assert math.isfinite(results["final"]["bits_per_character"])
  json.loads((workdir / "results.json").read_text(),
             parse_constant=lambda name: pytest.fail(f"results.json holds {name}"))
  family = registry.family_class(config)(config)
  bad = _restore(workdir, family, 2)
  assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(
      jax.device_get(bad.params)))  # the guard keeps NaN out of every checkpoint...
  assert not loop.is_good_state(family, bad, family.batch(2))  # ...but these lead to one
  assert loop.is_good_state(family, _restore(workdir, family, 1), family.batch(1))

  config.train.checkpoint_every = 2
  workdir = tmp_path / "every_other_step"
  with pytest.raises(ConfigError) as error:
    loop.train_and_evaluate(config, str(workdir))
  message = str(error.value)
  assert "\n" not in message and "3 consecutive NaN/Inf steps (from step 3)" in message
  assert message.endswith("no result: no checkpoint has finite parameters and a finite loss "
                          "(last good checkpoint: none)"), message
  assert not (workdir / "results.json").exists()


# ---------------------------------------------------------------------------------------------
# 3. Every numeric key with a range, per family and model, before any training.

def _model(family, name, root):
  """`family`'s tiny config with another model block."""
  config = tiny_config(family, root)
  if name == "dnc":
    config.model = load_config("copy_dnc").model
    config.model.update(memory_size=8, word_size=6, controller_size=16)
  elif name in ("lstm", "gru"):
    config.model = ml_collections.ConfigDict({"name": name, "hidden_size": 8})
    if "eval" in config and "mem_len" in config.eval:
      config.eval.mem_len = -1
  elif name == "compressive":
    config.model = load_config("charlm_compressive").model
    config.model.update(num_layers=1, d_model=16, d_ff=32, num_heads=2, mem_len=4,
                        compressed_mem_len=4)
    config.train.reconstruction_weight = 1.0
  elif name == "graph_ntm":
    config.model = load_config("graph_traversal_ntm").model
    config.model.update(memory_size=8, word_size=8, controller_size=8)
  elif name == "kbqa_lstm":
    config.model = load_config("kbqa_lstm").model
    config.model.update(embed_dim=8, hidden_size=8)
  return config


_COMMON = [("train.num_steps", -3), ("train.learning_rate", -1.0), ("train.batch_size", 0),
           ("train.log_every", 0), ("train.eval_every", 0), ("train.checkpoint_every", -1),
           ("train.keep_checkpoints", 0), ("train.max_consecutive_nonfinite", 0),
           ("train.stop_at_step", -1), ("train.grad_clip_norm", -1.0),
           ("train.grad_clip_norm", math.nan), ("train.warmup_steps", -1),
           ("train.weight_decay", -1.0), ("train.momentum", -0.5), ("train.momentum", 1.5),
           ("train.decay_rate", 2.0), ("train.decay_steps", 0), ("seed", -1), ("num_seeds", 0)]

_CASES = {
    "algorithmic": [
        ("train.target_error", math.nan), ("train.eval_batch_size", 0),
        ("train.screen_every", 0), ("train.curriculum_steps", -1),
        ("task.max_length", 0), ("task.min_length", 0), ("task.min_length", 9),
        ("task.num_bits", 0), ("eval.num_sequences", 0), ("eval.memory_size", -1),
        ("eval.lengths", (4, 0)),
        ("model.memory_size", 0), ("model.word_size", 0), ("model.num_read_heads", 0),
        ("model.num_write_heads", 0), ("model.controller_size", 0), ("model.shift_range", -1),
        ("model.clip_value", -1.0), ("model.clip_value", math.nan)],
    "algorithmic:dnc": [
        ("model.memory_size", 0), ("model.word_size", 0), ("model.num_read_heads", 0),
        ("model.num_write_heads", 0), ("model.controller_size", 0), ("model.clip_value", -1.0)],
    "algorithmic:lstm": [("model.hidden_size", 0), ("model.hidden_size", -2)],
    "algorithmic:gru": [("model.hidden_size", 0)],
    "char_lm": [
        ("train.seg_len", 0), ("train.carry_reset_probability", 1.0),
        ("train.reconstruction_weight", -1.0), ("model.num_layers", 0), ("model.d_model", 0),
        ("model.d_model", 15), ("model.d_ff", 0), ("model.num_heads", 0), ("model.num_heads", 3),
        ("model.head_dim", 0), ("model.mem_len", -1), ("model.clamp_len", -5),
        ("model.clamp_len", 0), ("model.dropout", 1.0), ("eval.mem_len", -2),
        ("eval.seg_len", -1), ("eval.batch_size", 0), ("eval.max_segments", -1),
        ("eval.sample_length", -1), ("eval.sample_temperature", -1.0),
        ("eval.sample_prompt_length", 0), ("eval.compare_mem_lens", (4, -3)),
        ("data.valid_fraction", 0.0), ("data.valid_fraction", 1.0)],
    "char_lm:compressive": [
        ("model.compressed_mem_len", -1), ("model.compression_rate", 0),
        ("model.compression_rate", 3)],
    "char_lm:lstm": [("model.hidden_size", 0)],
    "long_range": [
        ("task.seg_len", 0), ("task.num_segments", 0), ("task.num_keys", 0),
        ("task.num_values", 0), ("task.num_noise", -1), ("task.num_pairs", 0),
        ("eval.batch_size", 0), ("model.num_layers", 0), ("model.mem_len", -1)],
    "kbqa": [
        ("task.num_films", 0), ("task.num_people", 0), ("task.num_directors", 0),
        ("task.num_directors", 1000), ("task.num_cities", 0), ("task.num_countries", 0),
        ("task.num_years", 1), ("task.questions_per_hop", 0), ("task.max_candidates", 0),
        ("task.num_hops", 0), ("task.valid_fraction", 1.5), ("task.valid_fraction", 0.0),
        ("task.test_fraction", -0.1), ("task.heldout_fraction", 2.0),
        ("task.lowercase_fraction", 2.0), ("model.embed_dim", 0), ("model.num_hops", 0),
        ("model.embed_stddev", -1.0)],
    "kbqa:kbqa_lstm": [("model.hidden_size", 0), ("model.embed_dim", 0)],
    "graph": [
        ("task.num_nodes", 0), ("task.out_degree", 0), ("task.relations", 0),
        ("task.min_path", 0), ("task.max_path", 0), ("model.embed_dim", 0),
        ("model.num_hops", 0), ("model.embed_stddev", -1.0), ("train.eval_batch_size", 0)],
    "graph:graph_ntm": [("model.num_write_heads", 0), ("model.memory_size", 0)],
}
for _family in ("algorithmic", "char_lm", "long_range", "kbqa", "graph"):
  _CASES[_family] = _CASES[_family] + _COMMON
_PARAMETERS = [(variant, key, value) for variant, cases in _CASES.items()
               for key, value in cases]


@pytest.mark.parametrize("variant,key,value", _PARAMETERS,
                         ids=[f"{v}-{k}={x}" for v, k, x in _PARAMETERS])
def test_a_value_out_of_range_is_named_before_any_training(variant, key, value, data_root,
                                                           tmp_path):
  family, _, model = variant.partition(":")
  config = _model(family, model, data_root) if model else tiny_config(family, data_root)
  if key in ("train.decay_rate", "train.decay_steps"):
    config.train.schedule = "exponential"
  if key.startswith("train.momentum"):
    config.train.optimizer = "sgd"
  _set(config, key, value)
  workdir = tmp_path / "run"
  start = time.time()
  with pytest.raises(ConfigError) as error:
    loop.train_and_evaluate(config, str(workdir))
  message = str(error.value)
  leaf = key.split(".")[-1]
  assert (key in message or f"task.{leaf}" in message) and "\n" not in message, message
  assert not (workdir / "checkpoints").exists(), "trained before refusing"
  assert time.time() - start < 60


# ---------------------------------------------------------------------------------------------
# 4. One line instead of a traceback.

def test_a_config_file_that_raises_is_one_line(tmp_path):
  for text, culprit in [("def get_config():\n  return undefined_name\n",
                         "line 2 raised NameError: name 'undefined_name' is not defined"),
                        ("import ml_collections\nx = 1 / 0\n",
                         "line 2 raised ZeroDivisionError: division by zero"),
                        ("def get_config():\n  raise ValueError('no such size')\n",
                         "line 2 raised ValueError: no such size")]:
    path = tmp_path / "mine.py"
    path.write_text(text)
    status, errors, _ = _launch(["experiments/train.py", f"--config={path}",
                                 f"--workdir={tmp_path / 'run'}"])
    assert status != 0 and len(errors) == 1, errors
    assert errors[0] == f"error: --config={path}: {path} {culprit}", errors


def test_an_unknown_config_variant_is_one_line(tmp_path):
  status, errors, _ = _launch(["experiments/train.py", "--config=configs/babi_memn2n.py:foo",
                               f"--workdir={tmp_path / 'run'}"])
  assert status != 0 and len(errors) == 1, errors
  assert errors[0].startswith("error: --config=configs/babi_memn2n.py:foo: unknown option 'foo'")


def test_an_import_that_raises_is_one_line(tmp_path):
  path = tmp_path / "my_core.py"
  path.write_text("import memjax\nregister_core('mine', object)\n")
  status, errors, _ = _launch(["experiments/train.py", f"--import={path}",
                               "--config=configs/copy_ntm.py", f"--workdir={tmp_path / 'run'}"])
  assert status != 0 and errors == [
      f"error: --import={path}: {path} line 2 raised NameError: name 'register_core' is not "
      "defined"], errors


@pytest.mark.parametrize("platform,wheel", [("cuda", "jax[cuda12]"), ("tpu", "jax[tpu]")])
def test_a_platform_that_is_not_installed_is_one_line(platform, wheel, data_root, tmp_path):
  if platform in {device.platform for device in jax.devices()} or (
      platform == "cuda" and any(d.platform == "gpu" for d in jax.devices())):
    pytest.skip(f"{platform} is installed here")
  for args in (["run.py", f"--workdir={tmp_path / 'run'}", "--config.train.num_steps=2"],
               ["experiments/train.py", f"--workdir={tmp_path / 'run2'}",
                f"--config=tests/family_configs.py:algorithmic,{data_root},2"]):
    status, errors, _ = _launch(args, env={"JAX_PLATFORMS": platform})
    assert status != 0 and len(errors) == 1, errors
    assert errors[0].startswith(f"error: JAX_PLATFORMS={platform} asks for platform "
                                f"'{platform}', which is not available"), errors
    assert f'pip install -U "{wheel}"' in errors[0], errors


# ---------------------------------------------------------------------------------------------
# 5. Short runs.

def test_the_warm_up_is_cut_to_the_run():
  train = {"learning_rate": 1e-3, "num_steps": 5, "schedule": "warmup_cosine",
           "warmup_steps": 100}
  assert optim.warmup_length(train) == 4
  rates = [float(optim.make_schedule(train)(t)) for t in range(6)]
  assert all(math.isfinite(r) and r >= 0 for r in rates), rates
  assert max(rates) == pytest.approx(1e-3) and rates[0] == 0.0
  assert optim.warmup_length({**train, "num_steps": 1}) == 0
  assert optim.warmup_length({**train, "num_steps": 500}) == 100


def _short_charlm(root, num_steps):
  config = load_config("charlm_transformer_xl")
  config.data.path = str(root / "corpus.txt")
  config.model.update(num_layers=1, d_model=16, d_ff=32, num_heads=2, mem_len=4)
  config.train.update(seg_len=4, batch_size=2, num_steps=num_steps, log_every=1, eval_every=100,
                      checkpoint_every=0)
  config.eval.update(mem_len=4, seg_len=4, batch_size=2, max_segments=2, sample_length=0)
  assert config.train.warmup_steps >= num_steps  # the config's own warm-up, longer than the run
  return config


def test_charlm_transformer_xl_trains_for_five_steps(data_root, tmp_path):
  results = loop.train_and_evaluate(_short_charlm(data_root, 5), str(tmp_path / "run"))
  assert results["steps"] == 5
  assert math.isfinite(results["final"]["bits_per_character"])


def test_sampling_a_run_with_no_checkpoint_says_so(data_root, tmp_path):
  """A run that failed before its first checkpoint: config.json, no checkpoints."""
  config = _short_charlm(data_root, 5)
  workdir = check_workdir(config, str(tmp_path / "run"),
                          registry.family_class(config).resumable)
  status, errors, _ = _launch(["experiments/sample.py", f"--workdir={workdir}", "--length=5"])
  # (orbax may log warnings of its own before it)
  assert status != 0 and errors[-1] == f"error: --workdir={workdir} holds no checkpoint yet", errors
  assert not any(line.startswith(("Traceback", "ValueError")) for line in errors), errors
