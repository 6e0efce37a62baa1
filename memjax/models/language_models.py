"""Language models over segments of tokens: one interface for two kinds of model.

- `SegmentLM`: a segment-level model of `memjax.transformer` (Transformer-XL, the
  Compressive Transformer, the vanilla baseline); its memory of past hidden states
  is the carry between segments.
- `CoreLM`: any registered recurrent core (NTM, DNC, LSTM, GRU, a user's), reading
  one one-hot token per step and emitting next-token logits; its carry crosses
  segments the way XL's memory does, and gradients stop at segment boundaries
  (truncated backpropagation through time, one segment long).

Both give, for tokens `[batch, seg_len]`:

    params = lm.init(rng, batch_size, seg_len)
    carry = lm.initial_carry(params, batch_size, seg_len)
    carry, logits, aux_loss = lm.apply(params, carry, tokens, resets, dropout_rng)
    nats = lm.total_nats(params, inputs, targets)      # [batch, segments, seg_len], evaluation
    tokens = lm.generate(params, prompt, rng, num_tokens, temperature)

Objects are hashable by their fields, so jitted functions take them as static arguments.
"""
import dataclasses
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax

from memjax.cores import dynamic_unroll
from memjax.cores.base import init_core
from memjax.errors import ConfigError
from memjax.transformer import fast_eval
from memjax.transformer.model import CompressiveTransformer, TransformerXL

SEGMENT_MODELS = ("transformer_xl", "compressive", "vanilla")
_XL_FIELDS = ("d_model", "num_layers", "num_heads", "d_ff", "mem_len", "head_dim", "clamp_len",
              "same_length", "dropout")
_COMPRESSIVE_FIELDS = ("compressed_mem_len", "compression_rate", "compression_function")


def per_example_nats(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """`[batch]` sums of -log p(target) over a segment (nats); logits `[batch, T, vocab]`."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  return jnp.sum(losses, axis=-1)


def build_segment_model(model_config, vocab_size: int,
                        mem_len: Optional[int] = None) -> TransformerXL:
  """The model of a `model` block named one of SEGMENT_MODELS; `mem_len` overrides
  `model.mem_len`. Raises ConfigError naming a field the model lacks or cannot use."""
  fields = dict(model_config)
  name = fields.pop("name", "transformer_xl")
  if name not in SEGMENT_MODELS:
    raise ConfigError(f"model.name={name!r} is not one of {SEGMENT_MODELS}")
  allowed = _XL_FIELDS + (_COMPRESSIVE_FIELDS if name == "compressive" else ())
  unknown = sorted(set(fields) - set(allowed))
  if unknown:
    raise ConfigError(f"model.{unknown[0]} is not a field of model {name!r}; "
                      f"its fields are {sorted(allowed)}")
  if mem_len is not None:
    fields["mem_len"] = mem_len
  if name == "vanilla":
    if fields.get("mem_len", 0):
      raise ConfigError(f"model.mem_len={fields['mem_len']}: the vanilla model has no memory")
    fields["mem_len"] = 0
  if fields.get("mem_len", 0) < 0:
    raise ConfigError(f"model.mem_len={fields['mem_len']} must be >= 0")
  if not 0.0 <= fields.get("dropout", 0.0) < 1.0:
    raise ConfigError(f"model.dropout={fields['dropout']} must be in [0, 1)")
  cls = CompressiveTransformer if name == "compressive" else TransformerXL
  return cls(vocab_size=vocab_size, **fields)


@dataclasses.dataclass(frozen=True)
class SegmentLM:
  """A Transformer-XL-family model; `model` trains (with dropout), `eval_model` evaluates.

  Attributes:
    model: the training model (`deterministic=False`).
    eval_model: the same parameters with the evaluation memory (`eval.mem_len`).
    cached: evaluate through cached key/value projections (`memjax.transformer.fast_eval`).
  """
  model: TransformerXL
  eval_model: TransformerXL
  cached: bool = True

  @classmethod
  def from_config(cls, model_config, vocab_size: int, eval_mem_len: Optional[int] = None,
                  cached: bool = True) -> "SegmentLM":
    model = build_segment_model(model_config, vocab_size).clone(deterministic=False)
    return cls(model, build_segment_model(model_config, vocab_size, mem_len=eval_mem_len), cached)

  @property
  def mem_len(self) -> int:
    return self.model.mem_len

  @property
  def eval_mem_len(self) -> int:
    return self.eval_model.mem_len

  def with_eval_mem_len(self, mem_len: int) -> "SegmentLM":
    return dataclasses.replace(self, eval_model=self.eval_model.clone(mem_len=mem_len))

  def init(self, rng: jax.Array, batch_size: int, seg_len: int):
    shape = (batch_size, seg_len)
    carry = self.model.initialize_carry(rng, shape)
    # Initialised without dropout: the parameters do not depend on it.
    return self.model.clone(deterministic=True).init(rng, carry, jnp.zeros(shape, jnp.int32))[
        "params"]

  def initial_carry(self, params, batch_size: int, seg_len: int, evaluation: bool = False):
    del params  # the empty memory is a constant
    model = self.eval_model if evaluation else self.model
    return model.initialize_carry(None, (batch_size, seg_len))

  def apply(self, params, carry, tokens: jax.Array, resets: Optional[jax.Array] = None,
            dropout_rng: Optional[jax.Array] = None, evaluation: bool = False):
    """(carry, logits `[batch, T, vocab]`, reconstruction loss) for one segment."""
    model = self.eval_model if evaluation else self.model
    rngs = {} if dropout_rng is None else {"dropout": dropout_rng}
    if isinstance(model, CompressiveTransformer):
      (carry, logits), aux = model.apply({"params": params}, carry, tokens, resets,
                                         mutable=["losses"], rngs=rngs)
      reconstruction = sum(jax.tree_util.tree_leaves(aux.get("losses", {})), jnp.zeros(()))
      return carry, logits, reconstruction
    carry, logits = model.apply({"params": params}, carry, tokens, resets, rngs=rngs)
    return carry, logits, jnp.zeros(())

  def total_nats(self, params, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Sum of -log p over `[batch, segments, seg_len]` targets, memory carried across segments."""
    if not self.cached:
      return _uncached_total_nats(self, params, inputs, targets)
    model = self.eval_model
    batch_size, _, seg_len = inputs.shape
    compressive = isinstance(model, CompressiveTransformer)
    num_compressed = model.compressed_mem_len if compressive else 0
    keys = model.apply({"params": params}, num_compressed + model.mem_len + seg_len,
                       method=fast_eval.position_keys)
    if compressive:
      carry = fast_eval.empty_cached_compressive_memory(model, batch_size)
      cached_step = fast_eval.compressive_cached_step
    else:
      carry = fast_eval.empty_cached_memory(model, batch_size)
      cached_step = fast_eval.cached_step

    def step_fn(cache, segment):
      tokens, segment_targets = segment
      cache, logits = model.apply({"params": params}, cache, tokens, keys, method=cached_step)
      return cache, per_example_nats(logits, segment_targets)

    per_segment, _ = dynamic_unroll(step_fn, (inputs, targets), carry)
    return jnp.sum(per_segment)

  def generate(self, params, prompt: jax.Array, rng: jax.Array, num_tokens: int,
               temperature: float, context: int = 0) -> jax.Array:
    """`[batch, num_tokens]` tokens after `prompt` through the key/value cache; each token
    sees the last max(eval memory, `context`) tokens (plus the compressed memory)."""
    model = self.eval_model.clone(mem_len=max(self.eval_model.mem_len, context))
    return fast_eval.generate(model, {"params": params}, prompt, rng, num_tokens, temperature)


@dataclasses.dataclass(frozen=True)
class CoreLM:
  """A registered recurrent core as a language model: one-hot token in, next-token logits out.

  Attributes:
    core: a `memjax.cores.MemoryCore` with `output_size = vocab_size`.
    vocab_size: V.
  """
  core: Any
  vocab_size: int

  mem_len = 0       # no attention memory: the core's carry is its memory
  eval_mem_len = 0

  def init(self, rng: jax.Array, batch_size: int, seg_len: int):
    del batch_size, seg_len  # a core's parameters depend on neither
    return init_core(self.core, rng, (1, self.vocab_size))["params"]

  def initial_carry(self, params, batch_size: int, seg_len: int, evaluation: bool = False):
    del seg_len, evaluation
    return self.core.apply({"params": params}, jax.random.PRNGKey(0),
                           (batch_size, self.vocab_size), method=self.core.initialize_carry)

  def _one_hot(self, tokens: jax.Array) -> jax.Array:
    return jax.nn.one_hot(tokens, self.vocab_size, dtype=jnp.float32)

  def apply(self, params, carry, tokens: jax.Array, resets: Optional[jax.Array] = None,
            dropout_rng: Optional[jax.Array] = None, evaluation: bool = False):
    """(carry, logits `[batch, T, vocab]`, 0) for one segment, one token per core step."""
    del dropout_rng, evaluation
    if resets is not None:  # a new document: this row's carry starts afresh
      fresh = self.initial_carry(params, tokens.shape[0], tokens.shape[1])
      carry = jax.tree_util.tree_map(
          lambda f, c: jnp.where(resets.reshape((-1,) + (1,) * (c.ndim - 1)), f, c), fresh, carry)
    step_fn = functools.partial(self.core.apply, {"params": params})
    logits, carry = dynamic_unroll(step_fn, self._one_hot(tokens), carry)
    return carry, logits, jnp.zeros(())

  def total_nats(self, params, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    return _uncached_total_nats(self, params, inputs, targets)

  def generate(self, params, prompt: jax.Array, rng: jax.Array, num_tokens: int,
               temperature: float, context: int = 0) -> jax.Array:
    """`[batch, num_tokens]` tokens after `prompt`, the core's carry holding all of it."""
    del context
    if prompt.ndim != 2 or prompt.shape[1] < 1:
      raise ValueError(f"generate: prompt must be [batch, P] with P >= 1, got {prompt.shape}")
    step_fn = functools.partial(self.core.apply, {"params": params})
    carry = self.initial_carry(params, prompt.shape[0], 1)
    prompt_logits, carry = dynamic_unroll(step_fn, self._one_hot(prompt), carry)

    def sample(state, key):
      carry, logits = state
      token = (jnp.argmax(logits, axis=-1) if temperature == 0 else
               jax.random.categorical(key, logits / temperature, axis=-1)).astype(prompt.dtype)
      carry, logits = step_fn(carry, self._one_hot(token))
      return (carry, logits), token

    _, tokens = jax.lax.scan(sample, (carry, prompt_logits[:, -1]),
                             jax.random.split(rng, num_tokens))
    return tokens.T


def _uncached_total_nats(lm, params, inputs: jax.Array, targets: jax.Array) -> jax.Array:
  """Sum of -log p over `[batch, segments, seg_len]` targets through `lm.apply`, segment by
  segment with the carry (the evaluation memory for a segment model)."""
  batch_size, _, seg_len = inputs.shape

  def step_fn(carry, segment):
    tokens, segment_targets = segment
    carry, logits, _ = lm.apply(params, carry, tokens, evaluation=True)
    return carry, per_example_nats(logits, segment_targets)

  carry = lm.initial_carry(params, batch_size, seg_len, evaluation=True)
  per_segment, _ = dynamic_unroll(step_fn, (inputs, targets), carry)
  return jnp.sum(per_segment)


def num_params(params) -> int:
  return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))

