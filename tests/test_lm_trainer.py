"""The char-LM trainer (memjax/training/lm_trainer.py): end to end, evaluation paths, sampling,
NaN/Inf steps, stop and resume, and the errors that name a bad config key."""
import chex
import jax
import numpy as np
import pytest

from memjax.data import text
from tests.config_files import load_config


def _char_lm_config(tmp_path, name, text="the quick brown fox jumps over the lazy dog. " * 20):
  """`configs/<name>.py` reading `text` from a file in tmp_path."""
  tmp_path.mkdir(parents=True, exist_ok=True)
  text_file = tmp_path / "corpus.txt"
  text_file.write_text(text)
  config = load_config(name)
  config.data.path = str(text_file)
  return config


def test_char_lm_trainer_smoke(tmp_path):
  """The default config shrunk to one layer and 3 steps, end to end into a temp dir, then sampled."""
  from memjax.training import lm_trainer
  from memjax.training.errors import ConfigError

  config = _char_lm_config(tmp_path, "charlm_transformer_xl",
                           "the quick brown fox jumps over the lazy dog. " * 60)
  config.model.num_layers = 1
  config.model.d_model = 16
  config.model.d_ff = 32
  config.model.mem_len = 8
  config.train.seg_len = 8
  config.train.batch_size = 4
  config.train.num_steps = 3
  config.train.warmup_steps = 1
  config.train.log_every = 1
  config.train.eval_every = 3
  config.eval.mem_len = 16
  config.eval.seg_len = 8
  config.eval.batch_size = 2
  config.eval.update(sample_length=12, sample_prompt_length=5)
  results = lm_trainer.train_and_evaluate(config, str(tmp_path / "work"))
  assert results["steps"] == 3
  assert 0.0 < results["eval"]["bits_per_character"] < 8.0
  corpus = text.load_corpus(config.data.path, "char")
  # Whole segments of 8 of each of the 2 validation rows are scored, and their share reported.
  scored = 2 * ((len(corpus.valid) // 2 - 1) // 8) * 8
  assert results["eval"]["tokens"] == scored
  assert results["eval"]["coverage"] == pytest.approx(scored / (len(corpus.valid) - 1))
  assert 0.9 < results["eval"]["coverage"] < 1.0
  # The sample continues the first 5 validation characters (char level: one id per character).
  assert results["sample"]["prompt"] == text.decode(corpus, corpus.valid[:5])
  assert len(results["sample"]["continuation"]) == 12
  assert set(results["sample"]["continuation"]) <= set(corpus.alphabet)
  # experiments/sample.py's path: the newest checkpoint, a prompt of one's own.
  experiment, params, step = lm_trainer.load_experiment(str(tmp_path / "work"))
  assert step == 3
  again = experiment.sample(params, 12, temperature=0.8, seed=0,
                            prompt=results["sample"]["prompt"])
  assert again == results["sample"]  # same checkpointed parameters, same key
  with pytest.raises(ConfigError, match="prompt: character 'Z' is not in the alphabet"):
    experiment.sample(params, 4, prompt="Zebra")
  assert (tmp_path / "work" / "results.json").exists()
  assert (tmp_path / "work" / "checkpoints" / "3").exists()


def test_lm_trainer_dropout_steps_are_a_function_of_the_state(tmp_path):
  """With model.dropout the train step is still pure (a resumed run repeats it); bad rates are named."""
  from memjax.training import lm_trainer
  from memjax.training.errors import ConfigError

  # The compressive model: its train step also runs the compressors over dropped-out states.
  config = _char_lm_config(tmp_path, "charlm_compressive")
  config.model.update(num_layers=1, d_model=16, d_ff=32, mem_len=4, dropout=0.2,
                      compressed_mem_len=2, compression_rate=2)
  config.train.update(seg_len=4, batch_size=2)
  experiment = lm_trainer.LMExperiment(config)
  state = experiment.init_state(0)
  state = state._replace(step=state.step + 5)  # past warm-up's zero learning rate
  once, metrics = experiment.train_step(state)
  again, metrics_again = experiment.train_step(state)
  jax.tree_util.tree_map(np.testing.assert_array_equal, once.params, again.params)
  assert float(metrics["loss"]) == float(metrics_again["loss"]) and np.isfinite(float(metrics["loss"]))
  config.model.dropout = 1.0
  with pytest.raises(ConfigError, match=r"model.dropout=1.0 must be in \[0, 1\)"):
    lm_trainer.LMExperiment(config)


@pytest.mark.parametrize("name", ["charlm_transformer_xl", "charlm_compressive"])
def test_lm_evaluation_is_the_same_with_and_without_cached_projections(tmp_path, name):
  """`eval.cached` (the default) changes how validation runs, not its bits per character."""
  from memjax.training import lm_trainer

  config = _char_lm_config(tmp_path, name, "".join(chr(97 + (i * i) % 23) for i in range(3000)))
  config.model.update(num_layers=1, d_model=16, d_ff=32, mem_len=4)
  if name == "charlm_compressive":
    config.model.update(compressed_mem_len=4, compression_rate=2)
  config.train.update(seg_len=4, batch_size=2)
  config.eval.update(mem_len=6, seg_len=4, max_segments=8)
  bits, params = {}, None
  for cached in (True, False):
    config.eval.cached = cached
    experiment = lm_trainer.LMExperiment(config)
    if params is None:
      # Weights far from init, so that attention over the memories is far from uniform.
      leaves, tree = jax.tree_util.tree_flatten(experiment.init_state(0).params)
      noise = jax.random.split(jax.random.PRNGKey(3), len(leaves))
      params = jax.tree_util.tree_unflatten(tree, [
          leaf + 0.5 * jax.random.normal(key, leaf.shape) for leaf, key in zip(leaves, noise)])
    bits[cached] = experiment.evaluate(params, max_segments=8, batch_size=2)["bits_per_character"]
  assert bits[True] == pytest.approx(bits[False], rel=1e-5)
  assert 1.0 < bits[True] < 30.0


def test_sampling_config_errors_name_the_key(tmp_path):
  from memjax.training import lm_trainer
  from memjax.training.errors import ConfigError

  config = _char_lm_config(tmp_path, "charlm_compressive")
  config.eval.sample_length = -1
  with pytest.raises(ConfigError, match="eval.sample_length=-1 must be >= 0"):
    lm_trainer.LMExperiment(config)
  config.eval.sample_length = 5  # rate 2: sampled in segments of 2 (tests/test_compressive.py)
  experiment = lm_trainer.LMExperiment(config)
  with pytest.raises(ConfigError, match="eval.sample_prompt_length=0"):
    experiment.sample(None, 5, prompt_length=0)
  # Bad sampling settings stop the run before training, not after it.
  for key, value, message in [("sample_prompt_length", 10 ** 6, "must be between 1 and"),
                              ("sample_temperature", -0.5, "must be >= 0")]:
    bad = config.copy_and_resolve_references()
    bad.eval[key] = value
    with pytest.raises(ConfigError, match=f"eval.{key}={value} {message}"):
      lm_trainer.LMExperiment(bad)


def test_sample_script_names_a_workdir_that_is_not_a_run(tmp_path):
  import pathlib
  import subprocess
  import sys
  script = pathlib.Path(__file__).resolve().parent.parent / "experiments" / "sample.py"
  done = subprocess.run([sys.executable, str(script), f"--workdir={tmp_path}"],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode != 0
  assert f"error: --workdir={tmp_path} holds no config.json" in done.stderr


def _tiny_lm_config(tmp_path, **train):
  config = _char_lm_config(tmp_path, "charlm_transformer_xl")
  config.model.update(num_layers=1, d_model=16, d_ff=32, mem_len=4)
  config.train.update(seg_len=4, batch_size=2, num_steps=6, warmup_steps=1, log_every=1,
                      eval_every=1000, checkpoint_every=0)
  config.train.update(train)
  config.eval.update(mem_len=4, seg_len=4, batch_size=2, max_segments=2, sample_length=0)
  return config


def test_an_evaluation_batch_the_validation_text_cannot_fill_is_named_before_training(tmp_path):
  from memjax.training import lm_trainer
  from memjax.training.errors import ConfigError

  config = _tiny_lm_config(tmp_path)
  config.eval.batch_size = 500  # the validation split has 90 characters
  with pytest.raises(ConfigError, match=r"eval.batch_size=500 .* \(eval.seg_len\)"):
    lm_trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not list((tmp_path / "run").glob("checkpoints/*"))


def test_lm_train_step_skips_a_nan_step_without_touching_parameters_or_memory(tmp_path):
  from memjax.training import lm_trainer

  # The same program as the runs below (poisoned step 2), so it compiles once per test run.
  experiment = lm_trainer.LMExperiment(_tiny_lm_config(tmp_path, debug_nonfinite_steps=(2,)))
  state = experiment.init_state(0)
  for _ in range(2):                                           # steps 0, 1: normal updates
    state = experiment.train_step(state)[0]
  skipped, metrics = experiment.train_step(state)              # step 2: NaN loss and gradients
  assert not np.isfinite(float(metrics["loss"]))
  chex.assert_trees_all_equal(skipped.params, state.params)
  chex.assert_trees_all_equal(skipped.carry, state.carry)
  assert int(skipped.opt_state.total_notfinite) == 1 and int(skipped.step) == 3
  after, _ = experiment.train_step(skipped)                    # step 3: training goes on
  assert int(after.opt_state.notfinite_count) == 0
  assert not np.allclose(np.asarray(after.params["readout"]["kernel"]),
                         np.asarray(state.params["readout"]["kernel"]))
  chex.assert_tree_all_finite(after.params)


def test_lm_run_resumes_after_a_stop_exactly_and_stops_on_a_nan_streak(tmp_path):
  """A run stopped at step 3 and resumed equals a straight 6-step run (a NaN step included)."""
  from memjax.training import lm_trainer

  straight = lm_trainer.train_and_evaluate(
      _tiny_lm_config(tmp_path / "a", debug_nonfinite_steps=(2,), eval_every=2),
      str(tmp_path / "a" / "run"))
  first = lm_trainer.train_and_evaluate(
      _tiny_lm_config(tmp_path / "b", debug_nonfinite_steps=(2,), eval_every=2, stop_at_step=3),
      str(tmp_path / "b" / "run"))
  assert first["steps"] == 3 and "stop_at_step=3" in first["stop_reason"]
  resumed = lm_trainer.train_and_evaluate(
      _tiny_lm_config(tmp_path / "b", debug_nonfinite_steps=(2,), eval_every=2),
      str(tmp_path / "b" / "run"))
  assert straight["steps"] == resumed["steps"] == 6
  # The evaluation history of the steps before the stop survives it.
  assert [h["step"] for h in resumed["eval_history"]] == [2, 4, 6]
  assert resumed["eval_history"] == straight["eval_history"]
  assert straight["nonfinite_steps_skipped"] == resumed["nonfinite_steps_skipped"] == 1
  assert resumed["eval"]["bits_per_character"] == straight["eval"]["bits_per_character"]
  _, straight_params, _ = lm_trainer.load_experiment(str(tmp_path / "a" / "run"))
  _, resumed_params, _ = lm_trainer.load_experiment(str(tmp_path / "b" / "run"))
  chex.assert_trees_all_equal(resumed_params, straight_params)

  # A limit of one NaN step in a row (host-side, so the same compiled step): the run stops there.
  streak = lm_trainer.train_and_evaluate(
      _tiny_lm_config(tmp_path / "c", debug_nonfinite_steps=(2,), max_consecutive_nonfinite=1),
      str(tmp_path / "c" / "run"))
  assert streak["steps"] == 3  # update 3 (0-based step 2) was NaN
  assert streak["stop_reason"].startswith("stopped: 1 consecutive NaN/Inf steps by step 3")
  assert streak["nonfinite_steps_skipped"] == 1
  assert np.isfinite(streak["eval"]["bits_per_character"])
