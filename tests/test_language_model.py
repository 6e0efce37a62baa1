"""The language-model families (memjax/training/families/language_model.py): char-LM end to
end with a segment model and with a recurrent core, evaluation paths, sampling, and the errors
that name a bad config key. (NaN/Inf steps, stop and resume: tests/test_loop.py, for every
family.)"""
import jax
import numpy as np
import pytest

from memjax.data import text
from tests.family_configs import load_config


def _char_lm_config(tmp_path, name, text="the quick brown fox jumps over the lazy dog. " * 20):
  """`configs/<name>.py` reading `text` from a file in tmp_path."""
  tmp_path.mkdir(parents=True, exist_ok=True)
  text_file = tmp_path / "corpus.txt"
  text_file.write_text(text)
  config = load_config(name)
  config.data.path = str(text_file)
  return config


def test_char_lm_smoke(tmp_path):
  """The default config shrunk to one layer and 3 steps, end to end into a temp dir, then sampled."""
  from memjax.errors import ConfigError
  from memjax.training import loop

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
  results = loop.train_and_evaluate(config, str(tmp_path / "work"))
  assert results["steps"] == 3 and results["experiment"] == "char_lm"
  assert 0.0 < results["final"]["bits_per_character"] < 8.0
  corpus = text.load_corpus(config.data.path, "char")
  # Whole segments of 8 of each of the 2 validation rows are scored, and their share reported.
  scored = 2 * ((len(corpus.valid) // 2 - 1) // 8) * 8
  assert results["final"]["tokens"] == scored
  assert results["final"]["coverage"] == pytest.approx(scored / (len(corpus.valid) - 1))
  assert 0.9 < results["final"]["coverage"] < 1.0
  # The sample continues the first 5 validation characters (char level: one id per character).
  assert results["final"]["sample"]["prompt"] == text.decode(corpus, corpus.valid[:5])
  assert len(results["final"]["sample"]["continuation"]) == 12
  assert set(results["final"]["sample"]["continuation"]) <= set(corpus.alphabet)
  # experiments/sample.py's path: the newest checkpoint, a prompt of one's own.
  family, params, step = loop.load_run(str(tmp_path / "work"), "char_lm", params_only=True)
  assert step == 3
  again = family.sample(params, 12, temperature=0.8, seed=0,
                        prompt=results["final"]["sample"]["prompt"])
  assert again == results["final"]["sample"]  # same checkpointed parameters, same key
  with pytest.raises(ConfigError, match="prompt: character 'Z' is not in the alphabet"):
    family.sample(params, 4, prompt="Zebra")
  assert (tmp_path / "work" / "results.json").exists()
  assert (tmp_path / "work" / "checkpoints" / "3").exists()


def test_dropout_steps_are_a_function_of_the_state(tmp_path):
  """With model.dropout the train step is still pure (a resumed run repeats it); bad rates are named."""
  from memjax.errors import ConfigError
  from memjax.training.families import language_model

  # The compressive model: its train step also runs the compressors over dropped-out states.
  config = _char_lm_config(tmp_path, "charlm_compressive")
  config.model.update(num_layers=1, d_model=16, d_ff=32, mem_len=4, dropout=0.2,
                      compressed_mem_len=2, compression_rate=2)
  config.train.update(seg_len=4, batch_size=2)
  config.eval.update(seg_len=4, batch_size=2)
  family = language_model.CharLMFamily(config)
  state = family.init_state()
  state = state._replace(step=state.step + 5)  # past warm-up's zero learning rate
  step = jax.jit(family.train_step)  # not donating: the same state goes in twice
  once, metrics = step(state, family.batch(5))
  again, metrics_again = step(state, family.batch(5))
  jax.tree_util.tree_map(np.testing.assert_array_equal, once.params, again.params)
  assert float(metrics["loss"][0]) == float(metrics_again["loss"][0])
  assert np.isfinite(float(metrics["loss"][0]))
  config.model.dropout = 1.0
  with pytest.raises(ConfigError, match=r"model.dropout=1.0 must be in \[0, 1\)"):
    language_model.CharLMFamily(config)


@pytest.mark.parametrize("name", ["charlm_transformer_xl", "charlm_compressive"])
def test_lm_evaluation_is_the_same_with_and_without_cached_projections(tmp_path, name):
  """`eval.cached` (the default) changes how validation runs, not its bits per character."""
  from memjax.training.families import language_model

  config = _char_lm_config(tmp_path, name, "".join(chr(97 + (i * i) % 23) for i in range(3000)))
  config.model.update(num_layers=1, d_model=16, d_ff=32, mem_len=4)
  if name == "charlm_compressive":
    config.model.update(compressed_mem_len=4, compression_rate=2)
  config.train.update(seg_len=4, batch_size=2)
  config.eval.update(mem_len=6, seg_len=4, max_segments=8, batch_size=2)
  from memjax.training.family import one_seed
  bits, params = {}, None
  for cached in (True, False):
    config.eval.cached = cached
    family = language_model.CharLMFamily(config)
    if params is None:
      # Weights far from init, so that attention over the memories is far from uniform.
      leaves, tree = jax.tree_util.tree_flatten(one_seed(family.init_state().params))
      noise = jax.random.split(jax.random.PRNGKey(3), len(leaves))
      params = jax.tree_util.tree_unflatten(tree, [
          leaf + 0.5 * jax.random.normal(key, leaf.shape) for leaf, key in zip(leaves, noise)])
    bits[cached] = family.bits_per_character(params)["bits_per_character"]
  assert bits[True] == pytest.approx(bits[False], rel=1e-5)
  assert 1.0 < bits[True] < 30.0


def test_sampling_config_errors_name_the_key(tmp_path):
  from memjax.errors import ConfigError
  from memjax.training.families import language_model

  config = _char_lm_config(tmp_path, "charlm_compressive")
  config.eval.update(seg_len=4, batch_size=2)
  config.eval.sample_length = -1
  with pytest.raises(ConfigError, match="eval.sample_length=-1 must be >= 0"):
    language_model.CharLMFamily(config)
  config.eval.sample_length = 5  # rate 2: sampled in segments of 2 (tests/test_compressive.py)
  family = language_model.CharLMFamily(config)
  with pytest.raises(ConfigError, match="eval.sample_prompt_length=0"):
    family.sample(None, 5, prompt_length=0)
  # Bad sampling settings stop the run before training, not after it.
  for key, value, message in [("sample_prompt_length", 10 ** 6, "must be between 1 and"),
                              ("sample_temperature", -0.5, "must be >= 0")]:
    bad = config.copy_and_resolve_references()
    bad.eval[key] = value
    with pytest.raises(ConfigError, match=f"eval.{key}={value} {message}"):
      language_model.CharLMFamily(bad)


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
  from memjax.errors import ConfigError
  from memjax.training import loop

  config = _tiny_lm_config(tmp_path)
  config.eval.batch_size = 500  # the validation split has 90 characters
  with pytest.raises(ConfigError, match=r"eval.batch_size=500 .* \(eval.seg_len\)"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert not list((tmp_path / "run").glob("checkpoints/*"))


def test_a_recurrent_core_trains_as_a_char_lm_and_samples(tmp_path):
  """configs/charlm_core.py: an LSTM learns the text (validation bits per character well below
  the uniform log2(vocabulary)), evaluates through its carry and samples from its checkpoint."""
  import math
  from memjax.training import loop

  config = _char_lm_config(tmp_path, "charlm_core", "abcdefgh " * 400)
  config.model.hidden_size = 32
  config.train.update(seg_len=8, batch_size=4, num_steps=150, warmup_steps=10, log_every=50,
                      eval_every=1000, checkpoint_every=0, learning_rate=1e-2)
  config.eval.update(seg_len=8, batch_size=4, sample_length=9, sample_prompt_length=27,
                     sample_temperature=0.0)
  results = loop.train_and_evaluate(config, str(tmp_path / "run"))
  uniform = math.log2(results["vocab_size"])
  assert results["model"] == "lstm" and results["train_mem_len"] == 0
  assert results["final"]["bits_per_character"] < 0.25 * uniform, results["final"]
  # Greedy, after three periods of the pattern (from a fresh carry it needs a few to lock in).
  assert results["final"]["sample"]["continuation"] == "abcdefgh "
  family, params, _ = loop.load_run(str(tmp_path / "run"), "char_lm", params_only=True)
  prompt = "abcdefgh abcdefgh abcdefgh abc"
  assert family.sample(params, 4, prompt=prompt, temperature=0.0)["continuation"] == "defg"


def test_a_core_carries_its_state_across_segments_and_samples_greedily():
  """CoreLM: two segments with the carry equal one pass over both (per-step logits), and greedy
  generation picks the argmax of a full pass at every step."""
  import jax.numpy as jnp
  from memjax.cores import build_core
  from memjax.models.language_models import CoreLM

  lm = CoreLM(build_core({"name": "ntm", "controller_size": 16, "memory_size": 8,
                          "word_size": 6}, 11), 11)
  apply = jax.jit(lm.apply)
  params = lm.init(jax.random.PRNGKey(0), 2, 6)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 12), 0, 11)
  carry = lm.initial_carry(params, 2, 6)
  whole = apply(params, carry, tokens)[1]
  carry, first, _ = apply(params, carry, tokens[:, :6])
  _, second, _ = apply(params, carry, tokens[:, 6:])
  np.testing.assert_allclose(np.concatenate([first, second], 1), whole, rtol=1e-5, atol=1e-6)
  # A reset row starts afresh: its logits are those of a fresh carry.
  _, reset, _ = apply(params, carry, tokens[:, 6:], resets=jnp.array([True, False]))
  np.testing.assert_allclose(reset[0], apply(params, lm.initial_carry(params, 2, 6),
                                                tokens[:, 6:])[1][0], rtol=1e-5, atol=1e-6)
  prompt = tokens[:1, :3]
  generated = jax.jit(lm.generate, static_argnums=(3, 4))(params, prompt, jax.random.PRNGKey(2),
                                                        5, 0.0)
  sequence = jnp.concatenate([prompt, generated], 1)
  logits = apply(params, lm.initial_carry(params, 1, 8), sequence)[1]
  np.testing.assert_array_equal(np.argmax(logits[0, 2:-1], -1), generated[0])


def test_core_char_lm_config_errors_name_the_key(tmp_path):
  from memjax.errors import ConfigError
  from memjax.training import loop

  config = _char_lm_config(tmp_path, "charlm_core")
  config.eval.mem_len = 64
  with pytest.raises(ConfigError, match="eval.mem_len / eval.compare_mem_lens: model.name='lstm' "
                                        "is a recurrent core"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  config = _char_lm_config(tmp_path, "charlm_core")
  config.model.name = "memn2n"
  with pytest.raises(ConfigError, match="model.name='memn2n' is one of the memory networks; "
                                        "experiment 'char_lm' takes segment-level language"):
    loop.train_and_evaluate(config, str(tmp_path / "run"))
  with pytest.raises(ValueError, match="'nope' is neither one of"):
    load_config("charlm_core", "nope")
