"""bAbI word by word for recurrent cores (DNC paper setup): encoding, loss mask, launcher."""
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.data import babi, babi_scoring
from memjax.errors import ConfigError
from memjax.training import loop
from memjax.training.families.babi_recurrent import masked_softmax_cross_entropy
from tests.family_configs import load_config, write_babi

ROOT = pathlib.Path(__file__).resolve().parent.parent

SNIPPET = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary?\tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Daniel?\thallway\t4
1 Sandra picked up the milk.
2 Sandra took the apple there.
3 What is Sandra carrying?\tmilk,apple\t1 2
"""


def _load_config(arg=""):
  return load_config("babi_dnc", arg)


def test_two_story_snippet_encodes_answer_steps_where_expected():
  stories = babi.parse_babi_stories_text(SNIPPET, "snippet", task=1)
  assert [len(s) for s in stories] == [2, 1]
  vocab = babi.story_vocabulary(stories)
  assert vocab.words[0] == babi.NIL_WORD and {"-", ".", "?", "milk", "apple"} <= set(vocab.words)
  assert "milk,apple" not in vocab.index          # list answers are split into words
  encoded = babi.encode_stories(stories, vocab)
  first = ("mary moved to the bathroom . john went to the hallway . where is mary ? - "
           "daniel went back to the hallway . where is daniel ? -").split()
  second = "sandra picked up the milk . sandra took the apple there . what is sandra carrying ? - -".split()
  assert encoded.inputs.shape == (2, len(first))
  np.testing.assert_array_equal(encoded.length, [len(first), len(second)])
  np.testing.assert_array_equal(encoded.inputs[0], vocab.encode(first))
  np.testing.assert_array_equal(encoded.inputs[1, :len(second)], vocab.encode(second))
  assert np.all(encoded.inputs[1, len(second):] == 0)           # nil padding
  # Answer steps: exactly the "-" positions; targets are the answer words there.
  np.testing.assert_array_equal(np.nonzero(encoded.mask[0])[0], [16, 28])
  np.testing.assert_array_equal(np.nonzero(encoded.mask[1])[0], [17, 18])
  assert np.all(encoded.inputs[encoded.mask] == vocab.index["-"])
  np.testing.assert_array_equal(encoded.targets[0, [16, 28]], vocab.encode(["bathroom", "hallway"]))
  np.testing.assert_array_equal(encoded.targets[1, [17, 18]], vocab.encode(["milk", "apple"]))
  assert np.all(encoded.targets[~encoded.mask] == 0)
  np.testing.assert_array_equal(encoded.question[0, [16, 28]], [0, 1])
  np.testing.assert_array_equal(encoded.question[1, [17, 18]], [0, 0])
  assert np.all(encoded.question[~encoded.mask] == -1)
  np.testing.assert_array_equal(encoded.num_questions, [2, 1])
  with pytest.raises(ValueError, match="snippet:3: the story has 29 words, more than length=10"):
    babi.encode_stories(stories, vocab, length=10)


def test_loss_is_zero_weighted_on_non_answer_steps():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 7, 5)), jnp.float32)
  targets = jnp.asarray(rng.integers(0, 5, (2, 7)), jnp.int32)
  mask = jnp.zeros((2, 7), bool).at[0, 3].set(True).at[1, 6].set(True)
  loss = masked_softmax_cross_entropy(logits, targets, mask)
  changed = jnp.where(mask[..., None], logits, 100.0 * logits)
  changed_targets = jnp.where(mask, targets, (targets + 1) % 5)
  np.testing.assert_allclose(masked_softmax_cross_entropy(changed, changed_targets, mask),
                             loss, rtol=1e-6)
  grad = jax.grad(masked_softmax_cross_entropy)(logits, targets, mask)
  assert np.all(np.asarray(grad)[~np.asarray(mask)] == 0)
  assert np.all(np.abs(np.asarray(grad)[np.asarray(mask)]).sum(-1) > 0)
  expected = -np.mean([jax.nn.log_softmax(logits[0, 3])[targets[0, 3]],
                       jax.nn.log_softmax(logits[1, 6])[targets[1, 6]]])
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_a_question_is_wrong_if_any_answer_word_is_wrong():
  stories = babi.parse_babi_stories_text(SNIPPET, "snippet", task=1)
  vocab = babi.story_vocabulary(stories)
  (bucket,) = babi.make_buckets(stories, vocab, [64])
  perfect = np.where(bucket.stories.mask, bucket.stories.targets, 0)[None]
  one_word_wrong = perfect.copy()
  one_word_wrong[0, 1, 18] = vocab.index["mary"]     # "apple" -> "mary": question 3 wrong
  first_wrong = perfect.copy()
  first_wrong[0, 0, 16] = vocab.index["mary"]        # story 1, question 1 wrong
  predicted = np.concatenate([perfect, one_word_wrong, first_wrong])  # three "seeds"
  errors = babi_scoring.question_errors([(bucket, predicted)], [1])
  np.testing.assert_allclose(errors[:, 0], [0.0, 100 / 3, 100 / 3])


def _write_fixture(root: pathlib.Path, num_stories=24):
  return write_babi(root, num_stories)


def _launch(tmp_path, *flags, config="configs/babi_dnc.py:1k"):
  return subprocess.run(
      [sys.executable, str(ROOT / "experiments" / "train.py"), f"--config={ROOT / config}",
       f"--workdir={tmp_path / 'run'}", f"--config.data.babi_dir={tmp_path / 'babi'}", *flags],
      capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))


_TINY = ("--config.data.tasks=1,8", "--config.model.controller_size=16",
         "--config.model.memory_size=8", "--config.model.word_size=8",
         "--config.model.num_read_heads=1", "--config.train.batch_size=8",
         "--config.train.log_every=3", "--config.train.eval_every=3",
         "--config.train.eval_batch_size=16", "--config.train.checkpoint_every=3",
         "--config.train.learning_rate=1e-3", "--config.train.length_buckets=32,64")


def test_tiny_dnc_trains_through_the_launcher(tmp_path):
  _write_fixture(tmp_path / "babi")
  result = _launch(tmp_path, *_TINY, "--config.train.num_steps=3")
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["experiment"] == "babi_recurrent" and results["model"] == "dnc"
  assert results["steps"] == 3 and results["tasks"] == [1, 8]
  assert set(results["best_test_error_pct"]) == {"1", "8"}
  assert all(0.0 <= e <= 100.0 for e in results["best_test_error_pct"].values())
  assert results["best_failed_tasks"] in (0, 1, 2)
  assert [h["step"] for h in results["history"]] == [3]     # the final evaluation only
  assert (tmp_path / "run" / "checkpoints" / "3").exists()
  assert "mean test error" in result.stdout and "failed tasks (>5%)" in result.stdout


def test_bad_config_fields_are_named_in_one_line(tmp_path):
  _write_fixture(tmp_path / "babi", num_stories=2)
  result = _launch(tmp_path, "--config.train.batch_size=0")
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert "config.train.batch_size=0 must be >= 1" in result.stderr, result.stderr[-2000:]
  config = _load_config("1k,lstm")
  config.data.babi_dir = str(tmp_path / "babi")
  with pytest.raises(ConfigError, match=r"config\.train\.length_buckets=\(64, 32\)"):
    config.train.length_buckets = (64, 32)
    loop.train_and_evaluate(config, str(tmp_path / "x"))
  config = _load_config("1k,lstm")
  config.data.babi_dir = str(tmp_path / "babi")
  config.train.lr = 1.0
  with pytest.raises(ConfigError, match=r"config\.train\.lr is not a field"):
    loop.train_and_evaluate(config, str(tmp_path / "x"))
  config = _load_config("1k,lstm")
  config.data.babi_dir = str(tmp_path / "babi")
  config.data.tasks = (1, 8)
  config.model.memory_size = 4                    # the LSTM has no memory
  with pytest.raises(ConfigError, match="model.memory_size is not a field of core 'lstm'"):
    loop.train_and_evaluate(config, str(tmp_path / "x"))
  with pytest.raises(ValueError, match=r"configs/babi_dnc.py:2k: unknown option '2k'"):
    _load_config("2k")
  assert not (tmp_path / "x").exists()            # field errors leave no workdir behind


def test_config_defaults_are_the_papers_and_suffixes_switch_core_and_size():
  config = _load_config()
  assert config.data.setting == "en-10k" and config.data.skip_missing
  assert (config.model.name, config.model.controller_size, config.model.memory_size,
          config.model.word_size, config.model.num_read_heads,
          config.model.num_write_heads) == ("dnc", 256, 256, 64, 4, 1)
  assert (config.train.optimizer, config.train.learning_rate, config.train.batch_size) == (
      "rmsprop", 1e-4, 16)
  assert _load_config("1k").data.setting == "en" and not _load_config("1k").data.skip_missing
  assert _load_config("lstm").model.name == "lstm"
  assert _load_config("ntm,1k").model.name == "ntm"


def test_real_babi_stories_and_missing_10k_task3():
  from tests.data_paths import require_shared_data
  babi_dir = require_shared_data("babi/tasks_1-20_v1-2")
  data = babi.load_babi_stories(babi_dir, "en", [1], validation_fraction=0.1)
  assert (len(data.train), len(data.valid), len(data.test)) == (180, 20, 200)
  assert sum(len(s) for s in data.test) == 1000          # every question is in a story
  encoded = babi.encode_stories(data.test, data.vocab)
  assert encoded.mask.sum() == 1000 and encoded.length.max() <= 128
  if not babi.find_missing_files(babi_dir, "en-10k", [3]):
    pytest.skip("en-10k task 3 is complete here")
  with pytest.raises(babi.MissingTaskFileError, match="skip_missing"):
    babi.load_babi_stories(babi_dir, "en-10k", [3])
