"""KB-QA data: the synthetic film graph's questions linked, encoded and hashed to candidates.

    data = build_kbqa_data(config.task)      # every split, as numpy arrays
    data.splits["train"].questions.words     # [N, max_words]

Questions are linked to entities (`linking.EntityLinker`), encoded
(`synthetic_kbqa.encode`) and, for the key-value memory, hashed to a fixed-size
candidate set of triples within `task.num_hops` hops (`key_hashing`, jitted, in
chunks of one shape so that it compiles once).
"""
import time
from typing import Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from memjax.errors import ConfigError
from memjax.knowledge import key_hashing, synthetic_kbqa
from memjax.knowledge.linking import EntityLinker

_HASH_CHUNK = 512      # questions per jitted key-hashing call


class KBQASplit(NamedTuple):
  """One split as numpy arrays, leading dim N questions (see `synthetic_kbqa.EncodedQuestions`).

  Attributes:
    questions: the encoded questions.
    candidates: `[N, K]` int32 hashed triple indices.
    candidate_mask: `[N, K]` bool.
    num_reachable: `[N]` int32 reachable triples before the cut to K.
  """
  questions: synthetic_kbqa.EncodedQuestions
  candidates: np.ndarray
  candidate_mask: np.ndarray
  num_reachable: np.ndarray

  @property
  def size(self) -> int:
    return int(self.questions.num_hops.shape[0])


def kbqa_config(task: ml_collections.ConfigDict) -> synthetic_kbqa.KBQAConfig:
  fields = {k: v for k, v in dict(task).items() if k not in ("name", "num_hops", "max_candidates")}
  allowed = {f for f in synthetic_kbqa.KBQAConfig.__dataclass_fields__}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ConfigError(f"task.{unknown[0]} is not a field of task 'synthetic_kbqa'; its fields "
                      f"are {sorted(allowed | {'name', 'num_hops', 'max_candidates'})}")
  return synthetic_kbqa.KBQAConfig(**fields)


def hash_questions(arrays, seed_entities: np.ndarray, num_entities: int, num_hops: int,
                   max_candidates: int) -> key_hashing.CandidateSet:
  """`key_hashing.batch_hash_candidates` in fixed-size chunks (one compilation)."""
  pieces = []
  n = seed_entities.shape[0]
  for start in range(0, n, _HASH_CHUNK):
    chunk = seed_entities[start:start + _HASH_CHUNK]
    padded = np.full((_HASH_CHUNK, chunk.shape[1]), -1, np.int32)
    padded[:len(chunk)] = chunk
    result = key_hashing.batch_hash_candidates(arrays, jnp.asarray(padded), num_entities,
                                               num_hops, max_candidates)
    pieces.append(jax.tree_util.tree_map(lambda x: np.asarray(x)[:len(chunk)], result))
  return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)


class KBQAData(NamedTuple):
  """The graph, vocabularies and every split."""
  dataset: synthetic_kbqa.KBQADataset
  vocabulary: Tuple[str, ...]
  splits: Dict[str, KBQASplit]
  linking_accuracy: Dict[str, float]
  seconds: float


def build_kbqa_data(task: ml_collections.ConfigDict, with_candidates: bool = True) -> KBQAData:
  """Generates, links, encodes and (for the memory) hashes every split."""
  start = time.time()
  dataset = synthetic_kbqa.generate(kbqa_config(task))
  graph = dataset.graph
  linker = EntityLinker(graph.entity_names)
  vocabulary = synthetic_kbqa.build_vocabulary(dataset.splits["train"], linker)
  arrays = graph.arrays()
  num_hops, max_candidates = int(task.num_hops), int(task.max_candidates)
  splits, linking = {}, {}
  for name, questions in dataset.splits.items():
    encoded = synthetic_kbqa.encode(questions, linker, vocabulary)
    linking[name] = float(np.mean(encoded.seed_entities[:, 0] == encoded.gold_entity))
    if with_candidates:
      candidates = hash_questions(arrays, encoded.seed_entities, graph.num_entities, num_hops,
                                  max_candidates)
      splits[name] = KBQASplit(encoded, candidates.indices, candidates.mask,
                               candidates.num_reachable)
    else:
      n = len(questions)
      splits[name] = KBQASplit(encoded, np.zeros((n, 1), np.int32), np.zeros((n, 1), bool),
                               np.zeros((n,), np.int32))
  return KBQAData(dataset, vocabulary, splits, linking, time.time() - start)


def answer_coverage(data: KBQAData) -> Dict[str, Dict[str, float]]:
  """Per split: the share of questions with an answer among their candidates, the share
  whose reachable triples were cut to K, and the median number reachable."""
  coverage = {}
  for name, split in data.splits.items():
    objects = np.asarray(data.dataset.graph.arrays().objects)[split.candidates]
    answers = split.questions.answers
    covered = np.any((objects[:, :, None] == answers[:, None, :]) & (answers[:, None, :] >= 0)
                     & split.candidate_mask[:, :, None], axis=(1, 2))
    coverage[name] = {"answer_in_candidates": float(np.mean(covered)),
                      "truncated_fraction": float(np.mean(split.num_reachable
                                                          > split.candidates.shape[1])),
                      "median_reachable": float(np.median(split.num_reachable))}
  return coverage
