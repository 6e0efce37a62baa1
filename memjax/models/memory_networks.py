"""Memory networks on a story's sentences as pure functions: one builder for MemN2N and
KV-MemNN from a config's `model` block.

    network = build_memory_network(config.model, vocab_size, memory_size, sentence_length,
                                   query_length)
    params = network.init(rng)
    output = network.apply_batch(params, memory, memory_mask, query, time_index, linear)
    errors = task_error_pct(make_predict(network), params, split, tasks, mesh)  # many seeds
"""
import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from memjax import parallel
from memjax.data import babi
from memjax.models import kv_memnn, memn2n
from memjax.models import registry as model_registry

EVAL_CHUNK = 500  # questions per prediction chunk (bounds memory)


class MemoryNetwork(NamedTuple):
  """A memory network as pure functions (see `memn2n.apply_batch`)."""
  name: str
  config: Any
  init: Callable            # (rng) -> params
  apply_batch: Callable     # (params, memory, memory_mask, query, time_index, linear) -> output
  zero_nil: Callable        # params -> params


def pe_length(model_config: ml_collections.ConfigDict, sentence_length: int,
              query_length: int) -> int:
  """J of the authors' position encoding: longest sentence or question, + 1 time word."""
  return max(sentence_length, query_length) + (1 if model_config.temporal else 0)


def build_memory_network(model_config: ml_collections.ConfigDict, vocab_size: int,
                         memory_size: int, sentence_length: int = 0, query_length: int = 0,
                         experiment: str = "babi_memnn") -> MemoryNetwork:
  """`config.model` -> `MemoryNetwork` (memn2n or kv_memnn).

  `sentence_length` and `query_length` (the data's padded lengths) fix J of
  `encoding="position_authors"`.
  """
  name, _ = model_registry.resolve(model_config, experiment, ("memory_network",))
  common = dict(vocab_size=vocab_size, memory_size=memory_size,
                embedding_dim=int(model_config.embedding_dim), num_hops=int(model_config.num_hops),
                encoding=model_config.encoding, temporal=bool(model_config.temporal),
                init_std=float(model_config.init_std),
                pe_length=pe_length(model_config, sentence_length, query_length))
  common["null_attention"] = bool(model_config.get("null_attention", False))
  if name == "memn2n":
    cfg = memn2n.MemN2NConfig(tying=model_config.tying, **common)
    module = memn2n
  else:
    cfg = kv_memnn.KVMemNNConfig(**common)
    module = kv_memnn

  def apply_batch(params, memory, memory_mask, query, time_index=None, linear=False):
    return module.apply_batch(params, memory, memory_mask, query, cfg, time_index, linear)

  return MemoryNetwork(name=name, config=cfg, init=lambda rng: module.init_params(rng, cfg),
                   apply_batch=apply_batch, zero_nil=module.zero_nil_embeddings)


def make_predict(model: MemoryNetwork, linear: bool = False, vmap_seeds: bool = False) -> Callable:
  """Jitted `(params[num_seeds], memory, mask, query) -> [num_seeds, num_examples]` answers.

  `linear`: the model as trained during linear start (no softmax in the hops),
  so that validation during LS measures the model being trained. Inputs must
  be padded to a multiple of `EVAL_CHUNK` questions; seeds and chunks run one
  after another (`lax.map`) to bound memory. `vmap_seeds` (seeds split over
  devices): each chunk runs for all seeds at once, so that every device
  predicts its own seeds (a `lax.map` over a split axis would gather them all).
  """

  def seed_predict(params, memory, memory_mask, query):
    def chunk(inputs):
      m, mm, q = inputs
      return jnp.argmax(model.apply_batch(params, m, mm, q, linear=linear).logits, -1)
    shape = lambda x: x.reshape((-1, EVAL_CHUNK) + x.shape[1:])
    return jax.lax.map(chunk, (shape(memory), shape(memory_mask), shape(query))).reshape(-1)

  @jax.jit
  def predict(params, memory, memory_mask, query):
    if not vmap_seeds:
      return jax.lax.map(lambda p: seed_predict(p, memory, memory_mask, query), params)
    shape = lambda x: x.reshape((-1, EVAL_CHUNK) + x.shape[1:])

    def chunk(inputs):
      m, mm, q = inputs
      seed_answers = lambda p: jnp.argmax(model.apply_batch(p, m, mm, q, linear=linear).logits,
                                          -1)
      return jax.vmap(seed_answers)(params)                        # [num_seeds, EVAL_CHUNK]

    answers = jax.lax.map(chunk, (shape(memory), shape(memory_mask), shape(query)))
    return jnp.swapaxes(answers, 0, 1).reshape(answers.shape[1], -1)  # [num_seeds, n]

  return predict


def _pad(split: babi.EncodedSplit):
  n = split.num_examples
  padded = int(math.ceil(n / EVAL_CHUNK)) * EVAL_CHUNK
  pad = lambda x: np.concatenate([x, np.zeros((padded - n,) + x.shape[1:], x.dtype)])
  return pad(split.memory), pad(split.memory_mask), pad(split.query)


def task_error_pct(predict: Callable, params, split: babi.EncodedSplit,
                   tasks: Sequence[int], mesh) -> np.ndarray:
  """`[num_seeds, len(tasks)]` test error in percent of each seed on each task."""
  inputs = parallel.replicate(_pad(split), mesh)
  predictions = parallel.to_host(predict(params, *inputs))[:, :split.num_examples]
  wrong = predictions != split.answer[None, :]
  return np.stack([100.0 * wrong[:, split.task == t].mean(axis=1) for t in tasks], axis=1)
