"""KB-QA models as pure functions of (params, batch dict): the key-value memory over a
question's candidate triples, and an LSTM baseline that reads the question alone.

    model = KBQAModel(config, data)
    params = model.init(rng, model.batch(split, index))
    loss, predictions = model.loss_and_predictions(params, batch)
"""
from typing import Any, Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from memjax.cores import static_unroll
from memjax.cores.recurrent import LSTM, lstm_zero_state
from memjax.errors import ConfigError
from memjax.knowledge import kv_memory
from memjax.knowledge.kbqa_data import KBQAData, KBQASplit

KBQA_MODELS = ("kv_memory", "lstm")


class LSTMQuestionAnswerer(nn.Module):
  """LSTM baseline: reads the question tokens, scores all E entities after the last token.

      x_t = A_W w_t + A_E e_t   (e_t: the linked entity at its mention, else 0)
      h_t = LSTM(h_{t-1}, x_t),   logits = W h_T   `[batch, E]`

  The readout runs once, on h_T, not at every step as `LSTMCore` would:
  the E-way output dominates the cost.
  """
  num_entities: int
  vocab_size: int
  embed_dim: int = 64
  hidden_size: int = 256

  @nn.compact
  def __call__(self, tokens: jax.Array, token_entities: jax.Array) -> jax.Array:
    word = nn.Embed(self.vocab_size, self.embed_dim, name="word_embed")(tokens)
    entity = nn.Embed(self.num_entities, self.embed_dim, name="entity_embed")(
        jnp.maximum(token_entities, 0)) * (token_entities >= 0)[..., None]
    inputs = word + entity                                                   # [B, L, d]
    lstm = LSTM(self.hidden_size, name="lstm")
    hidden, _ = static_unroll(lstm, inputs, lstm_zero_state(inputs.shape[:1], self.hidden_size))
    last = jnp.maximum(jnp.sum(tokens > 0, axis=1) - 1, 0)
    final = jnp.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]   # [B, hidden]
    return nn.Dense(self.num_entities, name="readout")(final)


class KBQAModel:
  """A KB-QA model as pure functions of (params, batch dict)."""

  def __init__(self, config: ml_collections.ConfigDict, data: KBQAData):
    graph = data.dataset.graph
    self.name = config.model.name
    if self.name not in KBQA_MODELS:
      raise ConfigError(f"model.name={self.name!r} is not one of {KBQA_MODELS} for task "
                        "synthetic_kbqa")
    fields = {k: v for k, v in dict(config.model).items() if k != "name"}
    self.arrays = jax.tree_util.tree_map(jnp.asarray, graph.arrays())
    try:
      if self.name == "kv_memory":
        self.module = kv_memory.KeyValueMemory(graph.num_entities, graph.num_relations,
                                               len(data.vocabulary), **fields)
      else:
        self.module = LSTMQuestionAnswerer(graph.num_entities, len(data.vocabulary), **fields)
    except TypeError as error:
      raise ConfigError(f"model: {error} (model.name={self.name!r})") from None

  def batch(self, split: KBQASplit, index: np.ndarray) -> Dict[str, np.ndarray]:
    q = split.questions
    batch = {"answers": q.answers[index]}
    if self.name == "kv_memory":
      batch.update(words=q.words[index], seeds=q.seed_entities[index],
                   candidates=split.candidates[index], mask=split.candidate_mask[index])
    else:
      batch.update(tokens=q.tokens[index], token_entities=q.token_entities[index])
    return batch

  def _inputs(self, batch) -> kv_memory.KVMemoryInputs:
    candidates = batch["candidates"]
    return kv_memory.KVMemoryInputs(
        batch["words"], batch["seeds"], self.arrays.subjects[candidates],
        self.arrays.relations[candidates], self.arrays.objects[candidates], batch["mask"])

  def init(self, rng: jax.Array, batch) -> Any:
    if self.name == "kv_memory":
      return self.module.init(rng, self._inputs(batch))["params"]
    return self.module.init(rng, batch["tokens"], batch["token_entities"])["params"]

  def loss_and_predictions(self, params, batch) -> Tuple[jax.Array, jax.Array]:
    """Mean -log P(answer in A) and `[batch]` predicted entity ids."""
    answers = batch["answers"]
    if self.name == "kv_memory":
      inputs = self._inputs(batch)
      outputs = self.module.apply({"params": params}, inputs)
      is_answer = jnp.any((inputs.objects[..., None] == answers[:, None, :])
                          & (answers[:, None, :] >= 0), axis=-1) & inputs.mask
      log_likelihood = kv_memory.answer_log_likelihood(outputs.answer_weights, is_answer)
      predictions = kv_memory.predict(outputs, inputs.objects, inputs.mask)
    else:
      logits = self.module.apply({"params": params}, batch["tokens"], batch["token_entities"])
      answer_logits = jnp.where(answers >= 0,
                                jnp.take_along_axis(logits, jnp.maximum(answers, 0), axis=1),
                                -jnp.inf)
      log_likelihood = (jax.nn.logsumexp(answer_logits, axis=-1)
                        - jax.nn.logsumexp(logits, axis=-1))
      predictions = jnp.argmax(logits, axis=-1)
    return -jnp.mean(log_likelihood), predictions


def hits_at_1(predictions: np.ndarray, answers: np.ndarray) -> np.ndarray:
  """`[N]` bool: the predicted entity is one of the (-1 padded) answers."""
  return np.any((predictions[:, None] == answers) & (answers >= 0), axis=1)


