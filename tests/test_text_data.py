"""Text loader: byte and char levels, the 90/10 split, segment batching, errors naming the key."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.data import text
from tests.data_paths import require_shared_data


def _write(tmp_path, content: bytes):
  path = tmp_path / "corpus.txt"
  path.write_bytes(content)
  return str(path)


def test_byte_level_reads_raw_bytes_and_splits_90_10(tmp_path):
  content = bytes(range(256)) * 4  # any bytes, as in enwik8
  corpus = text.load_corpus(_write(tmp_path, content), level="byte")
  assert corpus.vocab_size == 256 and corpus.alphabet is None
  assert len(corpus.train) == int(len(content) * 0.9)
  np.testing.assert_array_equal(np.concatenate([corpus.train, corpus.valid]), list(content))
  assert corpus.train.dtype == np.int32


def test_char_level_numbers_sorted_characters(tmp_path):
  corpus = text.load_corpus(_write(tmp_path, "héllo wörld\n".encode() * 10), level="char",
                            valid_fraction=0.5)
  assert corpus.alphabet == "".join(sorted(set("héllo wörld\n")))
  assert corpus.vocab_size == len(corpus.alphabet)
  assert text.decode(corpus, corpus.train[:12]) == "héllo wörld\n"
  assert len(corpus.train) == len(corpus.valid) == 60


def test_errors_name_the_config_key(tmp_path):
  with pytest.raises(FileNotFoundError, match="data.path"):
    text.load_corpus(str(tmp_path / "missing.txt"))
  path = _write(tmp_path, b"\xff\xfe abc" * 10)
  # A folder (e.g. the tinyshakespeare directory instead of its input.txt) is named as one.
  with pytest.raises(FileNotFoundError, match=r"is a directory; point it at one text file "
                                              r"\(it holds e.g. "):
    text.load_corpus(str(tmp_path))
  with pytest.raises(ValueError, match="data.level='byte'"):
    text.load_corpus(path, level="char")
  with pytest.raises(ValueError, match="data.level"):
    text.load_corpus(path, level="word")
  with pytest.raises(ValueError, match="data.valid_fraction"):
    text.load_corpus(path, valid_fraction=1.0)


def test_segments_continue_each_row():
  tokens = np.arange(103)
  streams = text.batchify(tokens, 4)  # rows of 25 contiguous tokens
  np.testing.assert_array_equal(streams[1], np.arange(25, 50))
  assert text.num_segments(streams, 6) == 4
  get = jax.jit(text.segment, static_argnums=2)
  previous_last = None
  for index in range(4):
    inputs, targets = get(jnp.asarray(streams), index, 6)
    assert inputs.shape == targets.shape == (4, 6)
    np.testing.assert_array_equal(np.asarray(targets[:, :-1]), np.asarray(inputs[:, 1:]))
    if previous_last is not None:  # segment i+1 starts where segment i's targets ended
      np.testing.assert_array_equal(np.asarray(inputs[:, 0]), previous_last)
    previous_last = np.asarray(targets[:, -1])
  inputs, targets = text.all_segments(streams, 6)
  assert inputs.shape == (4, 4, 6)
  np.testing.assert_array_equal(inputs[2, 1], np.arange(56, 62))
  np.testing.assert_array_equal(targets[2, 1], np.arange(57, 63))
  with pytest.raises(ValueError, match="segment length"):
    text.num_segments(streams, 30)


def test_tiny_shakespeare_char_level():
  path = require_shared_data("tinyshakespeare/input.txt")
  corpus = text.load_corpus(str(path), level="char")
  assert corpus.vocab_size == 65  # nanoGPT's shakespeare_char
  assert len(corpus.train) + len(corpus.valid) == 1115394
  assert len(corpus.valid) == 111540
  assert text.decode(corpus, corpus.train[:9]) == "First Cit"


def test_encode_inverts_decode_and_names_a_missing_character(tmp_path):
  path = tmp_path / "t.txt"
  path.write_text("abcé abc ab" * 4, encoding="utf-8")
  for level in ("byte", "char"):
    corpus = text.load_corpus(str(path), level)
    for string in ("cab é", "a"):
      ids = text.encode(corpus, string)
      assert ids.dtype == np.int32 and ids.ndim == 1
      assert text.decode(corpus, ids) == string
  assert len(text.encode(text.load_corpus(str(path), "byte"), "é")) == 2  # UTF-8 bytes
  with pytest.raises(ValueError, match=r"character 'z' is not in the alphabet of .*t.txt"):
    text.encode(text.load_corpus(str(path), "char"), "az")
