"""A bAbI split as the memory networks read it: tables of distinct sentences' features, and
memory-length buckets.

    arrays = featurize(data.train, vocab_size, encoding, pe_length)   # TrainArrays
    buckets = memory_buckets(data.train.memory_mask, bucket_sizes((6, 12, 24), 50))
"""
from typing import List, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from memjax.data import babi
from memjax.models import memn2n


class TrainArrays(NamedTuple):
  """A training split as indices into tables of distinct sentences' features.

  bAbI repeats sentences a lot (18,000 1k joint training questions hold ~3,500
  distinct statements and questions), so each distinct sentence's
  `memn2n.sentence_features` is computed once and a batch gathers rows.

  Attributes:
    memory_ids: `[num_examples, memory_size]` int32 rows of `memory_features`.
    memory_mask: `[num_examples, memory_size]` bool.
    query_ids: `[num_examples]` int32 rows of `query_features`.
    answer: `[num_examples]` int32.
    memory_features: `[num_statements, F, vocab_size]` float32.
    query_features: `[num_questions, F, vocab_size]` float32.
  """
  memory_ids: jax.Array
  memory_mask: jax.Array
  query_ids: jax.Array
  answer: jax.Array
  memory_features: jax.Array
  query_features: jax.Array


def featurize(split: babi.EncodedSplit, vocab_size: int, encoding: str,
              pe_length: int = 0) -> TrainArrays:
  """`TrainArrays` of a split (distinct sentences found with `np.unique`)."""
  num_examples, memory_size, sentence_length = split.memory.shape
  statements, memory_ids = np.unique(split.memory.reshape(-1, sentence_length), axis=0,
                                     return_inverse=True)
  questions, query_ids = np.unique(split.query, axis=0, return_inverse=True)
  return TrainArrays(
      memory_ids=jnp.asarray(memory_ids.reshape(num_examples, memory_size), jnp.int32),
      memory_mask=jnp.asarray(split.memory_mask),
      query_ids=jnp.asarray(query_ids.reshape(-1), jnp.int32),
      answer=jnp.asarray(split.answer),
      memory_features=memn2n.sentence_features(jnp.asarray(statements), vocab_size, encoding,
                                               pe_length),
      query_features=memn2n.sentence_features(jnp.asarray(questions), vocab_size, encoding,
                                              pe_length))


def memory_buckets(memory_mask: np.ndarray, sizes: Sequence[int]) -> List[np.ndarray]:
  """Indices of the questions whose statements fit in each bucket's memory size.

  Args:
    memory_mask: `[num_examples, memory_size]` bool.
    sizes: increasing bucket memory sizes; memory_size is appended if absent.

  Returns:
    One index array per size in `bucket_sizes(...)` (a question goes to the
    smallest bucket that holds all its statements).
  """
  sizes = bucket_sizes(sizes, memory_mask.shape[1])
  filled = memory_mask.sum(axis=1)
  lower = [0] + sizes[:-1]
  return [np.nonzero((filled > lo) & (filled <= hi) | ((lo == 0) & (filled == 0)))[0]
          for lo, hi in zip(lower, sizes)]


def bucket_sizes(sizes: Sequence[int], memory_size: int) -> List[int]:
  """Sorted unique sizes <= memory_size, ending with memory_size."""
  return sorted({int(s) for s in sizes if 0 < int(s) < memory_size} | {memory_size})
