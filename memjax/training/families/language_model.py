"""Segment-by-segment language modelling: character-level text (`char_lm`) and a synthetic
recall across segments (`long_range`), for segment models (Transformer-XL, Compressive,
vanilla) and for any registered recurrent core (NTM, DNC, LSTM, GRU, a user's).

    config.experiment = "char_lm"      # configs/charlm_transformer_xl.py, configs/charlm_core.py
    config.experiment = "long_range"   # configs/long_range_xl.py

`char_lm`: a local text file (`data.path`, byte or char level, 90/10 split,
`memjax.data.text`) is cut into `train.batch_size` contiguous rows of N whole
segments of `train.seg_len` tokens. Each step trains on k = `train.segments_per_step`
consecutive segments of every row, a window: with W = floor(N / k) windows per
pass over the rows, step s reads segments w*k .. w*k + k - 1, w = s mod W, and the
model's carry (XL's memory, a core's state, RMT's memory tokens) enters from step
s-1 in the train state, so a resumed run continues exactly. The carry restarts at
a row's first segment, when the rows wrap around (and at random, each segment,
with `train.carry_reset_probability`). Within a step the carry is threaded through
the k segments inside the loss, so the gradient crosses k - 1 segment boundaries:
truncated backpropagation through time over k segments for a core, Infini-attention
and the Recurrent Memory Transformer (the latter also cut by its own
`model.bptt_segments`); Transformer-XL's and the Compressive Transformer's memory
and the kNN memory are stop-gradient by definition, so for them k only changes how
many segments one update reads. The loss is the mean over the k segments' tokens;
a step holds k segments' activations for the backward pass.

Wrap rule: a window never straddles the end of the rows. When k does not divide N,
the last N mod k segments of each row (fewer than k) are not trained on, the way a
row's tail shorter than a segment is not; k = 1 (the default) is the one-segment
step, unchanged. A segment's random reset and dropout keys are functions of its
place in a k = 1 run's stream (floor(s / W) * N + index), so runs with different k
draw the same keys for the same segment. k > N is refused.

Validation reports bits per character over the validation rows, segment by segment
with the carry (`eval.mem_len` may exceed the training memory; `eval.cached` uses
cached projections), whatever k, and a sample continues the validation text.

`long_range` (`memjax.tasks.long_range`): each step draws fresh sequences of
`task.num_segments` segments, scans them from an empty carry and scores the last
token; evaluation reports recall accuracy (chance = 1 / task.num_values).

The loss is the mean next-token cross-entropy plus, for the Compressive
Transformer, `train.reconstruction_weight` times the attention-reconstruction
loss (which reaches only the compressors). Data parallel: training rows and their
carries split along the mesh's `data` axis, parameters replicated.
"""
import dataclasses
import functools
import math
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax import parallel
from memjax.cores import dynamic_unroll
from memjax.data import babi, haystack, text
from memjax.errors import ConfigError, check_float, check_int, config_value
from memjax.models import registry as model_registry
from memjax.models.language_models import CoreLM, SegmentLM, carry_size, num_params
from memjax.tasks.long_range import LongRangeRecallTask, TokenBatch
from memjax.tasks.mqar import MQARTask
from memjax.training import optim
from memjax.training.family import (Family, TrainState, new_state, one_seed, optimizer_step,
                                    over_seeds)

_DROPOUT_STREAM = 0x64726F70  # "drop": folds the dropout keys apart from the batch keys.
_RESET_STREAM = 0x72657374    # "rest": the keys of train.carry_reset_probability


def _cross_entropy_sum(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
  """sum of -log p(target) over masked positions (nats); logits `[..., vocab]`."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  return jnp.sum(losses * mask)


class _SegmentFamily(Family):
  """What text and long-range language modelling share: the model, the step, the NaN policy."""
  blocks = ("data", "model", "eval", "task")
  train_keys = ("seg_len", "reconstruction_weight")
  host_only = ("seed",)
  max_seeds = 1
  carries_memory = False  # whether the carry crosses training steps (text rows)

  @classmethod
  def check_config(cls, config):
    check_float(config, "train.reconstruction_weight", 1.0, minimum=0.0)
    if config_value(config, "eval.mem_len", -1) is not None:
      check_int(config, "eval.mem_len", -1, -1, note=" (-1: model.mem_len)")
    check_int(config, "eval.batch_size", 1, 16)
    lens = tuple(config_value(config, "eval.compare_mem_lens", ()) or ())
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in lens):
      raise ConfigError(f"config.eval.compare_mem_lens={lens!r} must be memory lengths >= 0")

  def __init__(self, config: ml_collections.ConfigDict, vocab_size: int, seg_len: int):
    super().__init__(config)
    self.vocab_size, self.seg_len = vocab_size, seg_len
    eval_config = config.get("eval", ml_collections.ConfigDict())
    eval_mem_len = eval_config.get("mem_len", -1)
    eval_mem_len = None if eval_mem_len is None or eval_mem_len < 0 else int(eval_mem_len)
    _, kind = model_registry.resolve(config.model, self.name, ("segment_lm", "core"))
    if kind == "segment_lm":
      self.lm = SegmentLM.from_config(config.model, vocab_size, eval_mem_len,
                                      cached=bool(eval_config.get("cached", True)))
    else:
      if eval_mem_len is not None or tuple(eval_config.get("compare_mem_lens", ())):
        raise ConfigError(f"eval.mem_len / eval.compare_mem_lens: model.name="
                          f"{config.model.name!r} is a recurrent core (its carry is its memory);"
                          " set eval.mem_len=-1 and eval.compare_mem_lens=()")
      self.lm = CoreLM(model_registry.build_core(config.model, vocab_size), vocab_size)
      # The core checks its sizes when it is set up: now, not after the workdir is made.
      jax.eval_shape(lambda: self.lm.init(jax.random.PRNGKey(0), 1, 1))
    self.batch_size = int(config.train.batch_size)
    self.eval_batch_size = int(eval_config.get("batch_size", 16))
    self.reconstruction_weight = float(config.train.get("reconstruction_weight", 1.0))
    self.dropout = float(config.model.get("dropout", 0.0) or 0.0)
    self.optimizer = optim.make_optimizer(config.train)
    self.check_segment_length(seg_len, "train.seg_len" if self.name == "char_lm"
                              else "task.seg_len")

  def check_segment_length(self, length: int, key: str) -> None:
    """A ConfigError unless the compressive model's `compression_rate` divides segments of
    `length` (config key `key`): it compresses whole segments of evicted memory."""
    model = getattr(self.lm, "model", None)
    rate = getattr(model, "compression_rate", 1)
    if getattr(model, "compressed_mem_len", 0) and length % rate:
      raise ConfigError(f"config.model.compression_rate={rate} must divide {key}={length}")

  # -- state ----------------------------------------------------------------------------------
  def initial_state(self) -> TrainState:
    """The step-0 state, not yet placed on the mesh."""
    param_rng, state_rng = jax.random.split(jax.random.PRNGKey(self.seed))
    params = self.lm.init(param_rng, self.batch_size, self.seg_len)
    carry = (self.lm.initial_carry(params, self.batch_size, self.seg_len)
             if self.carries_memory else ())
    return new_state(params, self.optimizer.init(params), carry, state_rng, add_seed_axis=True)

  def init_state(self) -> TrainState:
    state = self.initial_state()
    # The carry's rows (axis 1, after the seed axis) split along `data`, the rest replicated.
    carry = parallel.put_batch(jax.device_get(state.carry), self.mesh, axis=1)
    return parallel.replicate(state._replace(carry=()), self.mesh)._replace(carry=carry)

  # -- training -------------------------------------------------------------------------------
  def _segment_loss(self, params, carry, rng, step, batch, dropout_rng):
    """(mean nats, accuracy, reconstruction loss, new carry) of the step's data."""
    raise NotImplementedError

  def _dropout_key(self, rng, index):
    """The dropout key of step (or segment) `index`, None without dropout: a function of
    (rng, index), so resumes repeat it."""
    if not self.dropout:
      return None
    return jax.random.fold_in(jax.random.fold_in(rng, _DROPOUT_STREAM), index)

  def _seed_step(self, params, opt_state, carry, rng, step, batch):
    dropout_rng = self._dropout_key(rng, step)

    def loss_fn(p):
      nats, correct, reconstruction, new_carry = self._segment_loss(p, carry, rng, step, batch,
                                                                    dropout_rng)
      loss = nats + self.reconstruction_weight * reconstruction
      return loss, (new_carry, {"bits_per_token": nats / math.log(2), "accuracy": correct,
                                "reconstruction": reconstruction})

    params, opt_state, (carry, extra), metrics = optimizer_step(self.optimizer, loss_fn, params,
                                                                opt_state)
    carry = parallel.shard_batch(carry, self.mesh)  # the memory stays with its rows' device
    return params, opt_state, carry, {**metrics, **extra}

  def train_step(self, state: TrainState, batch):
    params, opt_state, carry, metrics = over_seeds(
        self._seed_step, self.num_seeds, (0, 0, 0, 0, None, None), state.params, state.opt_state,
        state.carry, state.rng, state.step, batch)
    return state._replace(params=params, opt_state=opt_state, carry=carry), metrics

  def log_line(self, metrics):
    return (f"loss {float(np.mean(metrics['loss'])):.4f} | train bits/token "
            f"{float(np.mean(metrics['bits_per_token'])):.4f} | acc "
            f"{float(np.mean(metrics['accuracy'])):.3f}")

  def results(self, state, final):
    return {"model": self.config.model.name, "num_params": num_params(one_seed(state.params)),
            "vocab_size": self.vocab_size, "seg_len": self.seg_len,
            "train_mem_len": self.lm.mem_len, "eval_mem_len": self.lm.eval_mem_len}


# ---------------------------------------------------------------------------------------------
# Text.

@functools.partial(jax.jit, static_argnums=0)
def _total_nats(lm, params, inputs, targets):
  return lm.total_nats(params, inputs, targets)


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 6))
def _generate(lm, params, prompt, num_tokens, temperature, key, context):
  return lm.generate(params, prompt, key, num_tokens, temperature, context)


class CharLMFamily(_SegmentFamily):
  """Language modelling of a text file, segment by segment with the carry across steps."""
  name = "char_lm"
  train_keys = _SegmentFamily.train_keys + ("carry_reset_probability", "segments_per_step")
  carries_memory = True

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    check_int(config, "train.seg_len", 1)
    check_float(config, "data.valid_fraction", 0.1, above=0.0, below=1.0)
    check_int(config, "eval.seg_len", 0, 0, note=" (0: train.seg_len)")
    check_int(config, "eval.max_segments", 0, 0, note=" (0: all)")
    check_int(config, "eval.sample_length", 0, 0, note=" (0: no sample)")
    check_int(config, "eval.sample_prompt_length", 1, 64)
    check_float(config, "eval.sample_temperature", 0.8, minimum=0.0)
    check_float(config, "train.carry_reset_probability", 0.0, minimum=0.0, below=1.0)
    check_int(config, "train.segments_per_step", 1, 1)

  def __init__(self, config: ml_collections.ConfigDict, for_training: bool = True):
    """`for_training=False` (evaluation and sampling of a saved run): the training rows stay
    on the host and `train.batch_size` need not split over the devices."""
    data = config.data
    self.corpus = text.load_corpus(data.path, data.get("level", "byte"),
                                   float(data.get("valid_fraction", 0.1)))
    super().__init__(config, self.corpus.vocab_size, int(config.train.seg_len))
    self.train_streams = text.batchify(self.corpus.train, self.batch_size)  # host, numpy
    self.num_train_segments = text.num_segments(self.train_streams, self.seg_len)
    self.segments_per_step = int(config.train.get("segments_per_step", 1))
    if self.segments_per_step > self.num_train_segments:
      raise ConfigError(f"config.train.segments_per_step={self.segments_per_step} must be <= "
                        f"the {self.num_train_segments} segments of train.seg_len="
                        f"{self.seg_len} in each of the train.batch_size={self.batch_size} "
                        f"rows of {self.corpus.path}")
    # Windows of k segments per pass over the rows; the last N mod k segments are not read.
    self.num_windows = self.num_train_segments // self.segments_per_step
    self._device_streams = None
    if for_training:  # an argument of the jitted step, not a constant folded into it
      parallel.check_batch_size(self.batch_size, self.mesh)
      self._device_streams = parallel.put_batch(self.train_streams, self.mesh)
    eval_config = config.get("eval", ml_collections.ConfigDict())
    self.eval_seg_len = int(eval_config.get("seg_len", 0) or self.seg_len)
    self.check_segment_length(self.eval_seg_len, "eval.seg_len")
    self.max_segments = int(eval_config.get("max_segments", 0) or 0)
    self.sample_length = int(eval_config.get("sample_length", 0) or 0)
    self.sample_prompt_length = int(eval_config.get("sample_prompt_length", 64))
    self.sample_temperature = float(eval_config.get("sample_temperature", 0.8))
    self.reset_probability = float(config.train.get("carry_reset_probability", 0.0))
    self.compare_mem_lens = tuple(int(m) for m in eval_config.get("compare_mem_lens", ()))
    if self.sample_length:  # checked now, so that a bad value stops the run before training
      self._check_sampling(self.sample_prompt_length, self.sample_temperature)
    self._check_evaluation()

  @classmethod
  def for_evaluation(cls, config):
    return cls(config, for_training=False)

  def state_template(self):
    return jax.eval_shape(self.initial_state)  # shapes only: the checkpoint gives the values

  def batch(self, step):
    if self._device_streams is None:
      raise ValueError("this CharLMFamily was built with for_training=False")
    return self._device_streams

  def _segment_loss(self, params, carry, rng, step, streams, dropout_rng):
    """(mean nats, accuracy, reconstruction, carry) of step `step`'s window of k segments.

    The carry runs through the window inside the loss (`lax.scan`), so the gradient reaches
    back through it to the window's first segment; the carry entering the step is a constant.
    """
    del dropout_rng  # drawn per segment, from the segment's place in the stream
    k = self.segments_per_step
    if k == 1:  # the one-segment step, op for op as before segments_per_step existed
      carry, (nats, correct, reconstruction) = self._train_segment(
          params, rng, streams, carry, (step, step % self.num_train_segments))
      return nats, correct, reconstruction, carry
    window = step % self.num_windows
    indices = window * k + jnp.arange(k)
    # Where a k = 1 run meets these segments: the keys of their resets and dropout.
    stream_counts = (step // self.num_windows) * self.num_train_segments + indices
    carry, (nats, correct, reconstruction) = jax.lax.scan(
        functools.partial(self._train_segment, params, rng, streams), carry,
        (stream_counts, indices))
    # Every segment has batch x seg_len tokens: the mean of the means is the tokens' mean.
    return jnp.mean(nats), jnp.mean(correct), jnp.mean(reconstruction), carry

  def _train_segment(self, params, rng, streams, carry, count_and_index):
    """One segment: (carry, (mean nats, accuracy, reconstruction)).

    `count_and_index`: the segment's place in a k = 1 run's stream (its reset and dropout
    keys) and its index along the rows (0: the rows' start, where the carry restarts).
    """
    count, index = count_and_index
    inputs, targets = text.segment(streams, index, self.seg_len)
    resets = jnp.broadcast_to(index == 0, (inputs.shape[0],))
    if self.reset_probability:  # rows also restart at random, so the model learns fresh starts
      reset_rng = jax.random.fold_in(jax.random.fold_in(rng, _RESET_STREAM), count)
      resets |= jax.random.bernoulli(reset_rng, self.reset_probability, resets.shape)
    carry, logits, reconstruction = self.lm.apply(params, carry, inputs, resets,
                                                  self._dropout_key(rng, count))
    nats = _cross_entropy_sum(logits, targets, jnp.ones(targets.shape, jnp.float32)) / targets.size
    correct = jnp.mean((jnp.argmax(logits, -1) == targets).astype(jnp.float32))
    return carry, (nats, correct, reconstruction)

  # -- evaluation -----------------------------------------------------------------------------
  def _check_evaluation(self) -> None:
    """A ConfigError naming the keys when the validation text cannot fill the batches
    (before training, so that a run does not fail only at its first evaluation)."""
    try:
      text.num_segments(text.batchify(self.corpus.valid, self.eval_batch_size),
                        self.eval_seg_len)
    except ValueError as error:
      raise ConfigError(f"eval.batch_size={self.eval_batch_size} with evaluation segments of "
                        f"{self.eval_seg_len} (eval.seg_len) does not fit the validation "
                        f"split of {self.corpus.path} ({len(self.corpus.valid)} tokens): "
                        f"{error}") from None

  def bits_per_character(self, params, mem_len: Optional[int] = None) -> Dict[str, float]:
    """Validation bits per character of one seed's `params`.

    The split is cut into `eval.batch_size` rows, each read in whole segments of
    `eval.seg_len` with its carry; `tokens` counts the targets scored and
    `coverage` their share of the split's len(valid) - 1 targets (a row's tail,
    shorter than a segment, is not scored: 99.6% are at the default config's
    batch 16 and segments of 32 on tiny Shakespeare). `mem_len` evaluates a
    segment model with that memory instead of `eval.mem_len` (same parameters).
    """
    lm = self.lm if mem_len is None else self.lm.with_eval_mem_len(mem_len)
    streams = text.batchify(self.corpus.valid, self.eval_batch_size)
    inputs, targets = text.all_segments(streams, self.eval_seg_len)
    if self.max_segments:
      inputs, targets = inputs[:, :self.max_segments], targets[:, :self.max_segments]
    nats = _total_nats(lm, params, *parallel.put_batch((inputs, targets), self.mesh))
    tokens = targets.size
    return {"bits_per_character": float(nats) / tokens / math.log(2), "tokens": tokens,
            "coverage": tokens / (len(self.corpus.valid) - 1)}

  def evaluate(self, state, step, final):
    params = one_seed(state.params)
    evaluation = self.bits_per_character(params)
    if not final:
      return evaluation
    if self.compare_mem_lens:
      evaluation["by_mem_len"] = {str(m): self.bits_per_character(params, m)
                                  for m in self.compare_mem_lens}
    if self.sample_length:
      sample = self.sample(params, self.sample_length, self.sample_prompt_length,
                           self.sample_temperature, self.seed)
      print(f"  sample, temperature {self.sample_temperature}\n--- prompt (validation "
            f"text) ---\n{sample['prompt']}\n--- model ---\n{sample['continuation']}", flush=True)
      evaluation["sample"] = sample
    return evaluation

  def headline(self, evaluation):
    line = (f"validation bits/char {evaluation['bits_per_character']:.4f} "
            f"({evaluation['coverage']:.1%} of the split scored)")
    for mem_len, other in evaluation.get("by_mem_len", {}).items():
      line += f"; with mem_len {mem_len}: {other['bits_per_character']:.4f}"
    return line

  def sample(self, params, num_tokens: int, prompt_length: int = 64, temperature: float = 0.8,
             seed: int = 0, prompt: Optional[str] = None) -> Dict[str, str]:
    """Text the model writes after `prompt` (default: the first `prompt_length` validation
    characters), token by token: a segment model through its key/value cache
    (`fast_eval.generate`), each token seeing the last max(eval memory, eval segment - 1)
    tokens, so the vanilla model keeps the context it was trained with; a core through its
    carry. Returns {"prompt", "continuation"}."""
    self._check_sampling(None if prompt else prompt_length, temperature)
    if prompt:
      try:
        prompt_ids = text.encode(self.corpus, prompt)
      except ValueError as error:
        raise ConfigError(f"prompt: {error}") from None
    else:
      prompt_ids = self.corpus.valid[:prompt_length]
    prompt_array, key = parallel.replicate((np.asarray(prompt_ids[None]),
                                            jax.random.PRNGKey(seed)), self.mesh)
    tokens = _generate(self.lm, params, prompt_array, num_tokens, temperature, key,
                       self.eval_seg_len - 1)
    return {"prompt": text.decode(self.corpus, prompt_ids),
            "continuation": text.decode(self.corpus, jax.device_get(tokens))}

  def _check_sampling(self, prompt_length: Optional[int], temperature: float) -> None:
    if prompt_length is not None and not 1 <= prompt_length <= len(self.corpus.valid):
      raise ConfigError(f"eval.sample_prompt_length={prompt_length} must be between 1 and the "
                        f"validation split's {len(self.corpus.valid)} tokens")
    if temperature < 0:
      raise ConfigError(f"eval.sample_temperature={temperature} must be >= 0")


# ---------------------------------------------------------------------------------------------
# Recall tasks: long-range recall, MQAR, facts in a haystack.

def _recall_loss(lm, seg_len: int, params, batch, dropout_rng=None, evaluation=False,
                 last_only=False):
  """Scans the segments of `batch` (`[batch, num_segments * seg_len]` tokens) from an empty
  carry; (mean nats, accuracy, reconstruction) over the scored positions.

  `last_only`: only the final position is scored (the haystack), so each segment keeps the
  logits of its last token alone and a 64k-token context never holds `[batch, T, vocab]`.
  """
  batch_size, length = batch.inputs.shape
  segments = batch.inputs.reshape(batch_size, length // seg_len, seg_len)

  def step_fn(carry_and_rng, tokens):
    carry, rng = carry_and_rng
    segment_rng = None
    if rng is not None:  # a fresh dropout key per segment
      rng, segment_rng = jax.random.split(rng)
    carry, logits, reconstruction = lm.apply(params, carry, tokens, dropout_rng=segment_rng,
                                             evaluation=evaluation)
    if last_only:
      logits = logits[:, -1:]
    # dynamic_unroll wants batch-leading outputs.
    return (carry, rng), (logits, jnp.broadcast_to(reconstruction, (batch_size,)))

  carry = lm.initial_carry(params, batch_size, seg_len, evaluation=evaluation)
  (logits, reconstruction), _ = dynamic_unroll(step_fn, segments, (carry, dropout_rng))
  if last_only:
    logits, targets, mask = logits[:, -1], batch.targets[:, -1:], batch.mask[:, -1:]
  else:
    logits, targets, mask = logits.reshape(batch_size, length, -1), batch.targets, batch.mask
  count = jnp.maximum(jnp.sum(mask), 1.0)
  nats = _cross_entropy_sum(logits, targets, mask) / count
  hits = (jnp.argmax(logits, -1) == targets).astype(jnp.float32) * mask
  return nats, jnp.sum(hits) / count, jnp.mean(reconstruction)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _recall_evaluation(lm, seg_len, params, batch, last_only=False):
  return _recall_loss(lm, seg_len, params, batch, evaluation=True, last_only=last_only)


class LongRangeFamily(_SegmentFamily):
  """Recall of a value segments back (`memjax.tasks.long_range`): fresh sequences each step.

  Subclasses swap the task (`task_class`): any object with `seg_len`, `vocab_size`,
  `chance`, `sample(key, batch_size)` and `evaluation_batch(key, batch_size)` giving a
  `TokenBatch` of whole segments trains here.
  """
  name = "long_range"
  task_class = LongRangeRecallTask
  last_only = False  # score only each sequence's final token

  def __init__(self, config: ml_collections.ConfigDict):
    self.task = self.make_task(config)
    super().__init__(config, self.load_data(config), self.task.seg_len)
    parallel.check_batch_size(self.batch_size, self.mesh)

  def load_data(self, config: ml_collections.ConfigDict) -> int:
    """Reads what the task needs beyond its config (a generated task: nothing); returns the
    vocabulary size."""
    del config
    return self.task.vocab_size

  @classmethod
  def make_task(cls, config):
    task_fields = {k: v for k, v in dict(config.task).items() if k != "name"}
    try:
      return cls.task_class(**task_fields)
    except (TypeError, ValueError) as error:  # an unknown field, or one out of its range
      raise ConfigError(f"config.task: {error}") from None

  def _segment_loss(self, params, carry, rng, step, batch, dropout_rng):
    batch = parallel.shard_batch(
        self.task.sample(jax.random.fold_in(rng, step), self.batch_size), self.mesh)
    nats, correct, reconstruction = _recall_loss(self.lm, self.task.seg_len, params, batch,
                                                 dropout_rng, last_only=self.last_only)
    return nats, correct, reconstruction, carry

  def evaluate(self, state, step, final):
    batch = parallel.put_batch(jax.device_get(
        self.task.evaluation_batch(jax.random.PRNGKey(2**31 - 1), self.eval_batch_size)),
        self.mesh)
    nats, accuracy, _ = _recall_evaluation(self.lm, self.task.seg_len, one_seed(state.params),
                                           batch, self.last_only)
    return {"accuracy": float(accuracy), "bits_per_token": float(nats) / math.log(2)}

  def results(self, state, final):
    return {**super().results(state, final),
            "state_floats": carry_size(self.lm, one_seed(state.params), self.task.seg_len)}

  def headline(self, evaluation):
    return (f"recall accuracy {evaluation['accuracy']:.3f} on {self.eval_batch_size} examples "
            f"(chance {self.task.chance:.3f})")


class MQARFamily(LongRangeFamily):
  """Multi-query associative recall (`memjax.tasks.mqar`): accuracy over every query of
  `eval.batch_size` sequences of `task.num_pairs` pairs."""
  name = "mqar"
  task_class = MQARTask

  def headline(self, evaluation):
    return (f"MQAR accuracy {evaluation['accuracy']:.3f} over {self.task.num_pairs} queries x "
            f"{self.eval_batch_size} sequences (chance {self.task.chance:.3f})")


@dataclasses.dataclass(frozen=True)
class HaystackTask:
  """Facts in a haystack (`memjax.data.haystack`), config block `task`.

  Attributes:
    babi_task: the bAbI task whose stories are hidden (1, 2 and 3: one, two and three
      supporting facts).
    seg_len: tokens per segment.
    train_length: tokens per training example (a multiple of seg_len).
    num_train_examples: training examples generated once (each step draws from them).
  """
  babi_task: int = 1
  seg_len: int = 64
  train_length: int = 512
  num_train_examples: int = 4000

  name = "haystack"

  def __post_init__(self):
    for field in ("babi_task", "seg_len", "train_length", "num_train_examples"):
      if int(getattr(self, field)) < 1:
        raise ValueError(f"task.{field}={getattr(self, field)} must be >= 1")
    if self.train_length % self.seg_len:
      raise ValueError(f"task.train_length={self.train_length} must be a multiple of "
                       f"task.seg_len={self.seg_len}")


class HaystackFamily(LongRangeFamily):
  """A bAbI story hidden in Shakespeare (`memjax.data.haystack`, after BABILong): train at
  `task.train_length` tokens, report answer accuracy at each of `eval.lengths` at the end.

  The training examples are generated once (`task.num_train_examples`, bAbI `train`
  split, the text's first 90%) and live on the devices; step s draws its batch from them
  with a key of (seed, s). Evaluation uses the bAbI `test` split hidden in the text's
  last 10%: `eval.num_examples` examples at `task.train_length` during training, and at
  every length of `eval.lengths` at the end (`by_length`), each a fixed set (seed
  `eval.data_seed`). Only the final token (the answer) is scored.
  """
  name = "haystack"
  task_class = HaystackTask
  last_only = True
  host_only = LongRangeFamily.host_only + ("eval.lengths", "eval.num_examples",
                                           "eval.data_seed")
  _DATA_KEYS = ("babi_dir", "text_path", "setting", "num_text_words", "vocab_tasks")

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    unknown = sorted(set(config.get("data", {}).keys()) - set(cls._DATA_KEYS))
    if unknown:
      raise ConfigError(f"config.data.{unknown[0]} is not a haystack data key; known: "
                        f"{', '.join(cls._DATA_KEYS)}")
    check_int(config, "data.num_text_words", 0, 500)
    check_int(config, "eval.num_examples", 1, 200)
    lengths = tuple(config_value(config, "eval.lengths", ()) or ())
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in lengths):
      raise ConfigError(f"config.eval.lengths={lengths!r} must be token counts >= 1")

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self._pool = parallel.replicate(self._train_arrays, self.mesh)

  def load_data(self, config: ml_collections.ConfigDict) -> int:
    """Generates the training pool and the test sets; returns the vocabulary size."""
    data = config.get("data", ml_collections.ConfigDict())
    babi_dir = data.get("babi_dir", "") or babi.default_babi_dir()
    text_path = data.get("text_path", "") or haystack.default_text_path()
    setting = data.get("setting", "en")  # 1k: the vocabulary reads tasks 1-3 of this setting
    eval_config = config.get("eval", ml_collections.ConfigDict())
    self.eval_lengths = tuple(int(n) for n in eval_config.get("lengths", ()))
    for length in self.eval_lengths:
      if length % self.task.seg_len:
        raise ConfigError(f"config.eval.lengths: {length} is not a multiple of task.seg_len="
                          f"{self.task.seg_len}")
    num_eval = int(eval_config.get("num_examples", 200))
    data_seed = int(eval_config.get("data_seed", 1234))
    try:
      self.vocab = haystack.build_vocabulary(
          babi_dir, text_path, tuple(data.get("vocab_tasks", (1, 2, 3))), setting,
          int(data.get("num_text_words", 500)))
      make = functools.partial(haystack.make_haystack, babi_dir, text_path, self.vocab,
                               self.task.babi_task, setting=setting)
      train = make("train", self.task.train_length, self.task.num_train_examples,
                   seed=int(config.seed))
      self.eval_sets = {n: make("test", n, num_eval, seed=data_seed)
                        for n in sorted({self.task.train_length, *self.eval_lengths})}
    except (FileNotFoundError, ValueError) as error:
      raise ConfigError(f"haystack data (data.babi_dir={babi_dir!r}, data.text_path="
                        f"{text_path!r}): {error}") from None
    # Guessing the most frequent training answer.
    self.chance = float(np.max(np.bincount(train.answers)) / len(train.answers))
    self._train_arrays = (train.inputs, train.answers)
    return len(self.vocab.words)

  def batch(self, step):
    return self._pool  # an argument of the jitted step, not a constant folded into it

  def _segment_loss(self, params, carry, rng, step, pool, dropout_rng):
    inputs, answers = pool
    rows = jax.random.randint(jax.random.fold_in(rng, step), (self.batch_size,), 0,
                              inputs.shape[0])
    batch = parallel.shard_batch(_answer_batch(inputs[rows], answers[rows]), self.mesh)
    nats, correct, reconstruction = _recall_loss(self.lm, self.task.seg_len, params, batch,
                                                 dropout_rng, last_only=True)
    return nats, correct, reconstruction, carry

  def accuracy(self, params, length: int) -> float:
    """Answer accuracy of one seed's `params` on the fixed test set of `length` tokens."""
    data = self.eval_sets[length]
    hits = 0.0
    for start in range(0, len(data.answers), self.eval_batch_size):
      rows = slice(start, start + self.eval_batch_size)
      batch = _answer_batch(data.inputs[rows], data.answers[rows])
      _, accuracy, _ = _recall_evaluation(self.lm, self.task.seg_len, params,
                                          parallel.put_batch(batch, self.mesh), True)
      hits += float(accuracy) * len(data.answers[rows])
    return hits / len(data.answers)

  def evaluate(self, state, step, final):
    params = one_seed(state.params)
    evaluation = {"accuracy": self.accuracy(params, self.task.train_length)}
    if final and self.eval_lengths:
      evaluation["by_length"] = {str(n): self.accuracy(params, n) for n in self.eval_lengths}
    return evaluation

  def headline(self, evaluation):
    line = (f"answer accuracy {evaluation['accuracy']:.3f} at {self.task.train_length} tokens "
            f"(majority answer {self.chance:.3f})")
    for length, accuracy in evaluation.get("by_length", {}).items():
      line += f"; {length}: {accuracy:.3f}"
    return line


def _answer_batch(inputs, answers) -> TokenBatch:
  """A `TokenBatch` scoring only the last position, whose target is `answers` `[batch]`."""
  inputs = jnp.asarray(inputs)
  targets = jnp.zeros_like(inputs).at[:, -1].set(jnp.asarray(answers, inputs.dtype))
  mask = jnp.zeros(inputs.shape, jnp.float32).at[:, -1].set(1.0)
  return TokenBatch(inputs=inputs, targets=targets, mask=mask)
