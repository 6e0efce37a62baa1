"""Byte- or character-level text from any local file, split 90/10, batched in segments.

    corpus = load_corpus("../shared/data/tinyshakespeare/input.txt", level="char")
    streams = batchify(corpus.train, batch_size)           # [batch, n] int32
    inputs, targets = segment(streams, index, seg_len)    # [batch, seg_len] each, jit-able

`level="byte"` reads raw bytes (vocabulary 256, the enwik8/text8 convention:
works on enwik8 unchanged); `level="char"` decodes UTF-8 and numbers the
distinct characters in sorted order (tiny Shakespeare: 65, as nanoGPT's
shakespeare_char). The first `1 - valid_fraction` of the file trains, the rest
validates.

Segment batching for recurrent memory (Transformer-XL): the token stream is
cut into `batch` contiguous rows, and segment i of every row is
`rows[:, i*L : (i+1)*L]`, so row b's segment i+1 continues its segment i and
the memory carried from one to the next holds that row's real past.
"""
import pathlib
from typing import NamedTuple, Optional, Tuple

import jax
import numpy as np

LEVELS = ("byte", "char")
BYTE_VOCAB_SIZE = 256


class TextCorpus(NamedTuple):
  """A tokenised text file.

  Attributes:
    train: `[n_train]` int32 token ids.
    valid: `[n_valid]` int32 token ids.
    vocab_size: number of ids (256 for bytes).
    alphabet: for `level="char"`, the characters by id; None for bytes.
    path: the source file.
  """
  train: np.ndarray
  valid: np.ndarray
  vocab_size: int
  alphabet: Optional[str]
  path: str


def load_corpus(path: str, level: str = "byte", valid_fraction: float = 0.1) -> TextCorpus:
  """Reads and tokenises `path` (config key `data.path`).

  Raises:
    FileNotFoundError / ValueError naming `data.path`, `data.level` or `data.valid_fraction`.
  """
  file_path = pathlib.Path(path).expanduser()
  if file_path.is_dir():
    texts = sorted(p.name for p in file_path.iterdir() if p.is_file())[:5]
    raise FileNotFoundError(f"data.path={str(path)!r} is a directory; point it at one text file"
                            + (f" (it holds e.g. {', '.join(texts)})" if texts else ""))
  if not file_path.is_file():
    raise FileNotFoundError(f"data.path={str(path)!r}: no such file")
  if level not in LEVELS:
    raise ValueError(f"data.level={level!r} is not one of {LEVELS}")
  if not 0.0 < valid_fraction < 1.0:
    raise ValueError(f"data.valid_fraction={valid_fraction} must be in (0, 1)")
  raw = np.fromfile(file_path, dtype=np.uint8)
  if level == "byte":
    tokens, alphabet, vocab_size = raw.astype(np.int32), None, BYTE_VOCAB_SIZE
  else:
    try:
      text = raw.tobytes().decode("utf-8")
    except UnicodeDecodeError as error:
      raise ValueError(f"data.path={str(path)!r} is not UTF-8 ({error}); use data.level='byte'")
    alphabet = "".join(sorted(set(text)))
    lookup = {character: index for index, character in enumerate(alphabet)}
    tokens = np.fromiter((lookup[c] for c in text), dtype=np.int32, count=len(text))
    vocab_size = len(alphabet)
  split = int(len(tokens) * (1.0 - valid_fraction))
  if split < 2 or len(tokens) - split < 2:
    raise ValueError(f"data.path={str(path)!r} has {len(tokens)} tokens, too few to split with "
                     f"data.valid_fraction={valid_fraction}")
  return TextCorpus(train=tokens[:split], valid=tokens[split:], vocab_size=vocab_size,
                    alphabet=alphabet, path=str(file_path))


def decode(corpus: TextCorpus, tokens) -> str:
  """Token ids back to text (bytes decoded as UTF-8 with replacement)."""
  tokens = np.asarray(tokens).reshape(-1)
  if corpus.alphabet is None:
    return bytes(tokens.astype(np.uint8).tolist()).decode("utf-8", errors="replace")
  return "".join(corpus.alphabet[i] for i in tokens)


def encode(corpus: TextCorpus, string: str) -> np.ndarray:
  """Text to token ids `[len]` int32 (UTF-8 bytes, or indices into the corpus's characters).

  Raises:
    ValueError naming the first character the corpus's alphabet lacks.
  """
  if corpus.alphabet is None:
    return np.frombuffer(string.encode("utf-8"), np.uint8).astype(np.int32)
  lookup = {character: index for index, character in enumerate(corpus.alphabet)}
  missing = [character for character in string if character not in lookup]
  if missing:
    raise ValueError(f"character {missing[0]!r} is not in the alphabet of {corpus.path} "
                     f"({len(corpus.alphabet)} characters)")
  return np.array([lookup[character] for character in string], np.int32)


def batchify(tokens: np.ndarray, batch_size: int) -> np.ndarray:
  """Cuts a stream into `batch_size` contiguous rows: `[n] -> [batch_size, n // batch_size]`."""
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  row_length = len(tokens) // batch_size
  if row_length < 2:
    raise ValueError(f"{len(tokens)} tokens cannot fill {batch_size} rows of >= 2 tokens; "
                     "lower the batch size")
  return np.asarray(tokens[:row_length * batch_size], np.int32).reshape(batch_size, row_length)


def num_segments(streams, seg_len: int) -> int:
  """Whole segments of `seg_len` inputs (each needs one more token as its last target)."""
  count = (streams.shape[1] - 1) // seg_len
  if count < 1:
    raise ValueError(f"segment length {seg_len} is longer than the rows "
                     f"({streams.shape[1]} tokens); lower the segment length or batch size")
  return count


def segment(streams: jax.Array, index: jax.Array, seg_len: int) -> Tuple[jax.Array, jax.Array]:
  """Segment `index` of every row: (inputs, targets) `[batch, seg_len]`, targets shifted by one.

  Jit-able: `index` may be traced (it is clipped into range by `dynamic_slice`).
  """
  start = index * seg_len
  window = jax.lax.dynamic_slice_in_dim(streams, start, seg_len + 1, axis=1)
  return window[:, :-1], window[:, 1:]


def all_segments(streams: np.ndarray, seg_len: int) -> Tuple[np.ndarray, np.ndarray]:
  """Every whole segment at once: inputs, targets `[batch, num_segments, seg_len]`."""
  count = num_segments(streams, seg_len)
  inputs = streams[:, :count * seg_len].reshape(streams.shape[0], count, seg_len)
  targets = streams[:, 1:count * seg_len + 1].reshape(streams.shape[0], count, seg_len)
  return inputs, targets
