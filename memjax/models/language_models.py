"""Language models over segments of tokens: one interface for two kinds of model.

- `SegmentLM`: a segment-level model of `memjax.transformer` (Transformer-XL, the
  Compressive Transformer, the vanilla baseline; Infini-attention, the Recurrent
  Memory Transformer, the Memorizing Transformer); its memory (past hidden states,
  a compressive matrix, memory tokens, a kNN memory) is the carry between segments.
- `CoreLM`: any registered recurrent core (NTM, DNC, LSTM, GRU, a user's), reading
  one one-hot token per step and emitting next-token logits; its carry crosses
  segments the way XL's memory does. Gradients cross the segments that one loss
  applies in turn (truncated backpropagation through time: one segment long in
  `char_lm` by default, `train.segments_per_step` segments there in general, a whole
  example in `long_range`).

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
import math
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax

from memjax.cores import dynamic_unroll
from memjax.cores.base import init_core
from memjax.errors import ConfigError, check_int
from memjax.transformer import fast_eval
from memjax.transformer.infini_attention import InfiniTransformer
from memjax.transformer.knn_memory import MemorizingTransformer
from memjax.transformer.model import CompressiveTransformer, TransformerXL
from memjax.transformer.recurrent_memory import RecurrentMemoryTransformer

# Segment models whose memory is not a cache of hidden states: no `mem_len`, no cached
# evaluation; their fields are their classes' (memjax/transformer/local.py).
LOCAL_SEGMENT_MODELS = {"infini_attention": InfiniTransformer,
                        "rmt": RecurrentMemoryTransformer,
                        "memorizing_transformer": MemorizingTransformer}
SEGMENT_MODELS = ("transformer_xl", "compressive", "vanilla") + tuple(LOCAL_SEGMENT_MODELS)
_XL_FIELDS = ("d_model", "num_layers", "num_heads", "d_ff", "mem_len", "head_dim", "clamp_len",
              "same_length", "dropout")
_COMPRESSIVE_FIELDS = ("compressed_mem_len", "compression_rate", "compression_function")


def per_example_nats(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """`[batch]` sums of -log p(target) over a segment (nats); logits `[batch, T, vocab]`."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  return jnp.sum(losses, axis=-1)


def check_xl_sizes(fields) -> None:
  """ConfigError naming the first size of a Transformer-XL / Compressive `model` block out of
  range: layers, width (even: sinusoid encodings), heads (H divides d_model unless
  `head_dim` is given), feed-forward width, `clamp_len` (-1 or None: off, else >= 1), and the
  compressed memory (`compressed_mem_len >= 0`, `compression_rate >= 1`)."""
  block = {"model": dict(fields)}
  check_int(block, "model.num_layers", 1, 2)
  d_model = check_int(block, "model.d_model", 2, 128)
  if d_model % 2:
    raise ConfigError(f"config.model.d_model={d_model} must be even (sinusoid encodings)")
  num_heads = check_int(block, "model.num_heads", 1, 4)
  if block["model"].get("head_dim") is not None:
    check_int(block, "model.head_dim", 1)
  elif d_model % num_heads:
    raise ConfigError(f"config.model.num_heads={num_heads} must divide model.d_model={d_model} "
                      "(or set model.head_dim)")
  check_int(block, "model.d_ff", 1, 512)
  clamp_len = block["model"].get("clamp_len")
  if clamp_len == 0:  # the released Transformer-XL scripts' "no clamp"
    raise ConfigError("config.model.clamp_len=0 would give every distance the same encoding; "
                      "for no clamp set -1 (the released Transformer-XL code's 0)")
  if clamp_len is not None and clamp_len != -1:
    check_int(block, "model.clamp_len", 1, note=" (-1: no clamp)")
  check_int(block, "model.compressed_mem_len", 0, 0)
  check_int(block, "model.compression_rate", 1, 2)


def build_segment_model(model_config, vocab_size: int,
                        mem_len: Optional[int] = None) -> TransformerXL:
  """The model of a `model` block named one of SEGMENT_MODELS; `mem_len` overrides
  `model.mem_len`. Raises ConfigError naming a field the model lacks or cannot use."""
  fields = dict(model_config)
  name = fields.pop("name", "transformer_xl")
  if name not in SEGMENT_MODELS:
    raise ConfigError(f"model.name={name!r} is not one of {SEGMENT_MODELS}")
  if name in LOCAL_SEGMENT_MODELS:
    return _build_local_model(name, fields, vocab_size, mem_len)
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
  check_xl_sizes(fields)
  cls = CompressiveTransformer if name == "compressive" else TransformerXL
  return cls(vocab_size=vocab_size, **fields)


def _build_local_model(name: str, fields, vocab_size: int, mem_len: Optional[int]):
  cls = LOCAL_SEGMENT_MODELS[name]
  allowed = sorted({f.name for f in dataclasses.fields(cls)}
                   - {"parent", "name", "vocab_size", "deterministic"})
  unknown = sorted(set(fields) - set(allowed))
  if unknown:
    raise ConfigError(f"model.{unknown[0]} is not a field of model {name!r}; "
                      f"its fields are {allowed}")
  if mem_len is not None:
    raise ConfigError(f"eval.mem_len={mem_len}: model {name!r} keeps no cache of hidden "
                      "states (its memory is its own); set eval.mem_len=-1")
  if not 0.0 <= fields.get("dropout", 0.0) < 1.0:
    raise ConfigError(f"model.dropout={fields['dropout']} must be in [0, 1)")
  check_xl_sizes(fields)  # the layer stack is XL's
  try:
    model = cls(vocab_size=vocab_size, **fields)
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), model.initialize_carry(None, (1, 1)),
                                      jnp.zeros((1, 1), jnp.int32)))
  except ValueError as error:  # a field out of range, named by the model's setup
    raise ConfigError(str(error)) from None
  return model


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
    if not isinstance(self.eval_model, TransformerXL):
      raise ConfigError(f"eval.compare_mem_lens: {type(self.eval_model).__name__} keeps no "
                        "cache of hidden states; set eval.compare_mem_lens=()")
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
    if not self.cached or not isinstance(self.eval_model, TransformerXL):
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
    sees the last max(eval memory, `context`) tokens (plus the compressed memory); a model of
    LOCAL_SEGMENT_MODELS reads in segments of `context + 1` tokens (`_segment_generate`)."""
    if not isinstance(self.eval_model, TransformerXL):
      return _segment_generate(self.eval_model, params, prompt, rng, num_tokens, temperature,
                               max(context, 0) + 1)
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


def _segment_generate(model, params, prompt: jax.Array, rng: jax.Array, num_tokens: int,
                      temperature: float, seg_len: int) -> jax.Array:
  """`[batch, num_tokens]` tokens after `prompt` from a segment model without a cache.

  The text is read in segments of `seg_len`, as in evaluation: a token at offset p of
  its segment runs the whole segment `[x_0 .. x_p, (stale) ...]` from the carry at the
  segment's start and reads the logits at p (causal attention: the stale tokens after p
  cannot reach them); the carry advances only once the segment is complete. The samples
  are those of the model evaluated with segment length `seg_len`, at the cost of one
  segment per token.
  """
  if prompt.ndim != 2 or prompt.shape[1] < 1:
    raise ValueError(f"generate: prompt must be [batch, P] with P >= 1, got {prompt.shape}")
  if temperature < 0:
    raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
  batch_size = prompt.shape[0]
  variables = {"params": params}

  def feed(state, token):
    """Token at `offset` -> (state after it, logits after it `[batch, V]`)."""
    carry, window, offset = state
    window = jax.lax.dynamic_update_slice_in_dim(window, token[:, None], offset, axis=1)
    new_carry, logits = model.apply(variables, carry, window)
    complete = offset == seg_len - 1
    carry = jax.tree_util.tree_map(lambda new, old: jnp.where(complete, new, old), new_carry,
                                   carry)
    logits = jax.lax.dynamic_index_in_dim(logits, offset, axis=1, keepdims=False)
    return (carry, window, (offset + 1) % seg_len), logits

  start = (model.initialize_carry(None, (batch_size, seg_len)),
           jnp.zeros((batch_size, seg_len), prompt.dtype), jnp.zeros((), jnp.int32))
  state, prompt_logits = jax.lax.scan(feed, start, prompt.T)

  def sample(step, key):
    state, logits = step
    token = (jnp.argmax(logits, axis=-1) if temperature == 0 else
             jax.random.categorical(key, logits / temperature, axis=-1)).astype(prompt.dtype)
    return feed(state, token), token

  _, tokens = jax.lax.scan(sample, (state, prompt_logits[-1]), jax.random.split(rng, num_tokens))
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



def carry_size(lm, params, seg_len: int) -> int:
  """Numbers in the carry one sequence keeps between segments: the memory's state size.

  The LSTM's `2H`, the NTM's `N * W` plus its read vectors, weightings and controller state,
  XL's `num_layers * mem_len * d_model`, Infini-attention's per-head matrices and
  normalisers, the kNN memory's keys and values (and its integer bookkeeping): every
  element of the `initial_carry` pytree at batch size 1, whatever its dtype, so that
  memories compare at equal state as in Zoology's figures (Arora et al. 2023).
  """
  shapes = jax.eval_shape(lambda: lm.initial_carry(params, 1, seg_len))
  return int(sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(shapes)))
