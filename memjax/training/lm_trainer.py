"""Segment-by-segment training of Transformer-XL, the Compressive Transformer and the vanilla baseline.

    train_and_evaluate(config, workdir)      # config.experiment = "char_lm"

Two data sources (`config.data.source`):

  text        a local text file (`data.path`, byte or char level, 90/10 split,
              `memjax.data.text`). The training stream is cut into
              `train.batch_size` contiguous rows; step s trains on segment
              s mod num_segments of every row with the model's memory carried
              from step s-1 inside the train state (so a resumed run continues
              exactly), and the memory is emptied when the rows wrap around.
              Validation reports bits per character over the validation rows,
              run segment by segment with `eval.mem_len` (it may exceed the
              training memory), via the cached-projection paths (`eval.cached`).
  long_range  `memjax.tasks.long_range.LongRangeRecallTask`: each step draws
              fresh sequences of `task.num_segments` segments, scans them from
              an empty memory and scores the last token; evaluation reports
              recall accuracy (chance = 1 / task.num_values).

Data parallel over every device (`memjax.training.parallel`, as the
algorithmic trainer): the training rows and their memories are split along the
mesh's `data` axis, parameters are replicated, and multi-host runs work the same.

The loss is the mean next-token cross-entropy plus, for the Compressive
Transformer, `train.reconstruction_weight` times the attention-reconstruction
loss (which reaches only the compressors).
"""
import functools
import math
import pathlib
import time
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax.cores import dynamic_unroll
from memjax.data import text
from memjax.tasks.long_range import LongRangeRecallTask
from memjax.training import checkpoint as checkpoint_lib
from memjax.training import metrics as metrics_lib
from memjax.training import optim
from memjax.training import parallel
from memjax.training import progress
from memjax.training.errors import ConfigError, positive_int
from memjax.training.trainer import check_checkpoint_fields, check_workdir
from memjax.training.trainer import load_config as load_run_config
from memjax.transformer import fast_eval
from memjax.transformer.model import CompressiveTransformer, TransformerXL

MODELS = ("transformer_xl", "compressive", "vanilla")
SOURCES = ("text", "long_range")
_XL_FIELDS = ("d_model", "num_layers", "num_heads", "d_ff", "mem_len", "head_dim", "clamp_len",
              "same_length", "dropout")
_COMPRESSIVE_FIELDS = ("compressed_mem_len", "compression_rate", "compression_function")
_DROPOUT_STREAM = 0x64726F70  # "drop": folds the dropout keys apart from the batch keys.


def build_model(model_config, vocab_size: int, mem_len: Optional[int] = None) -> TransformerXL:
  """The model of `config.model` (`name` in MODELS); `mem_len` overrides `model.mem_len`."""
  fields = dict(model_config)
  name = fields.pop("name", "transformer_xl")
  if name not in MODELS:
    raise ConfigError(f"model.name={name!r} is not one of {MODELS}")
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


class LMState(NamedTuple):
  """Train state; `carry` is the model's memory for the training rows (text source).

  Attributes:
    step: `[]` int32 updates done.
    params: model parameters.
    opt_state: optax state.
    carry: the model carry (`XLState` / `CompressiveState`), batch `train.batch_size`.
    rng: `[2]` uint32 PRNG key (long_range batches use `fold_in(rng, step)`).
  """
  step: jax.Array
  params: Any
  opt_state: Any
  carry: Any
  rng: jax.Array


def _checkpointable(state: LMState) -> LMState:
  """Orbax cannot save zero-size arrays (a mem_len = 0 carry): those carries are left out."""
  if any(leaf.size == 0 for leaf in jax.tree_util.tree_leaves(state.carry)):
    return state._replace(carry=())
  return state


def _cross_entropy_sum(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
  """sum of -log p(target) over masked positions (nats); logits `[..., vocab]`."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  return jnp.sum(losses * mask)


def _per_example_nats(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """`[batch]` sums of -log p(target) over a segment (nats)."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  return jnp.sum(losses, axis=-1)


class LMExperiment:
  """Model, data and optimizer from a config, with jitted train and eval functions."""

  def __init__(self, config: ml_collections.ConfigDict, for_training: bool = True):
    """`for_training=False` (evaluation and sampling of a saved run): the training
    rows stay on the host and `train.batch_size` need not split over the devices."""
    self.config = config
    data = config.data
    self.source = data.get("source", "text")
    if self.source not in SOURCES:
      raise ConfigError(f"data.source={self.source!r} is not one of {SOURCES}")
    train = config.train
    self.batch_size = int(train.batch_size)
    if self.batch_size < 1:
      raise ConfigError(f"train.batch_size={self.batch_size} must be >= 1")
    # Data parallel as the algorithmic trainer: the training rows (and their
    # memories) split along the mesh's `data` axis, parameters replicated.
    self.mesh = parallel.config_mesh(config)
    if for_training:
      parallel.check_batch_size(self.batch_size, self.mesh)
    self._device_streams = None
    if self.source == "text":
      self.corpus = text.load_corpus(data.path, data.get("level", "byte"),
                                     float(data.get("valid_fraction", 0.1)))
      vocab_size = self.corpus.vocab_size
      self.seg_len = int(train.seg_len)
      self.train_streams = text.batchify(self.corpus.train, self.batch_size)  # host, numpy
      self.num_train_segments = text.num_segments(self.train_streams, self.seg_len)
      if for_training:  # An argument of the jitted step, not a constant folded into it.
        self._device_streams = parallel.put_batch(self.train_streams, self.mesh)
    else:
      task_fields = dict(config.task)
      task_fields.pop("name", None)
      try:
        self.task = LongRangeRecallTask(**task_fields)
      except TypeError as error:
        raise ConfigError(f"config.task: {error}") from None
      vocab_size = self.task.vocab_size
      self.seg_len = self.task.seg_len
    if self.seg_len < 1:
      raise ConfigError(f"train.seg_len={self.seg_len} must be >= 1")
    self.vocab_size = vocab_size
    # Training applies dropout (model.dropout > 0); evaluation never does.
    self.model = build_model(config.model, vocab_size).clone(deterministic=False)
    eval_config = config.get("eval", ml_collections.ConfigDict())
    eval_mem_len = eval_config.get("mem_len", -1)
    eval_mem_len = None if eval_mem_len is None or eval_mem_len < 0 else int(eval_mem_len)
    self.eval_model = build_model(config.model, vocab_size, mem_len=eval_mem_len)
    self.eval_seg_len = int(eval_config.get("seg_len", 0) or self.seg_len)
    self.is_compressive = isinstance(self.model, CompressiveTransformer)
    self.sample_length = int(eval_config.get("sample_length", 0) or 0)
    if self.sample_length < 0:
      raise ConfigError(f"eval.sample_length={self.sample_length} must be >= 0")
    # Checked here, so that a bad value stops the run before training, not after it.
    self.sample_prompt_length = int(eval_config.get("sample_prompt_length", 64))
    self.sample_temperature = float(eval_config.get("sample_temperature", 0.8))
    if self.sample_length and self.source == "text":
      self._check_sampling(self.sample_prompt_length, self.sample_temperature)
    self.reconstruction_weight = float(train.get("reconstruction_weight", 1.0))
    self.max_nonfinite = int(train.get("max_consecutive_nonfinite", 10))
    if self.max_nonfinite < 1:
      raise ConfigError(f"train.max_consecutive_nonfinite={self.max_nonfinite} must be >= 1")
    self.nonfinite_steps = tuple(train.get("debug_nonfinite_steps", ()))  # test hook
    # optax.apply_if_finite skips updates whose gradients hold a NaN/Inf and
    # counts them in the optimizer state (so a resumed run keeps the count).
    # Its own limit is set out of reach: train_and_evaluate stops the run
    # itself after max_nonfinite consecutive skips, before any NaN is applied.
    self.optimizer = optax.apply_if_finite(optim.make_optimizer(train),
                                           max_consecutive_errors=2**30)
    self._jitted_train_step = jax.jit(self._train_step)

  # -- model application --------------------------------------------------------------------
  def _apply(self, model, params, carry, tokens, resets=None, dropout_rng=None):
    """(carry, logits, reconstruction loss) for one segment; `dropout_rng` for training."""
    rngs = {} if dropout_rng is None else {"dropout": dropout_rng}
    if isinstance(model, CompressiveTransformer):
      (carry, logits), aux = model.apply({"params": params}, carry, tokens, resets,
                                         mutable=["losses"], rngs=rngs)
      reconstruction = sum(jax.tree_util.tree_leaves(aux.get("losses", {})), jnp.zeros(()))
      return carry, logits, reconstruction
    carry, logits = model.apply({"params": params}, carry, tokens, resets, rngs=rngs)
    return carry, logits, jnp.zeros(())

  def init_state(self, seed: int) -> LMState:
    """The initial state on the mesh: memory rows split along `data`, the rest replicated."""
    return self.place_state(self._initial_state(seed))

  def place_state(self, state: LMState) -> LMState:
    """`state` on the mesh (for a freshly built or host-side state)."""
    carry = parallel.put_batch(jax.device_get(state.carry), self.mesh)
    return parallel.replicate(state._replace(carry=()), self.mesh)._replace(carry=carry)

  def _initial_state(self, seed: int) -> LMState:
    rng = jax.random.PRNGKey(seed)
    param_rng, state_rng = jax.random.split(rng)
    shape = (self.batch_size, self.seg_len)
    carry = self.model.initialize_carry(param_rng, shape)
    # Initialised without dropout: the parameters do not depend on it.
    variables = self.model.clone(deterministic=True).init(param_rng, carry,
                                                          jnp.zeros(shape, jnp.int32))
    params = variables["params"]
    return LMState(step=jnp.zeros((), jnp.int32), params=params,
                   opt_state=self.optimizer.init(params), carry=carry, rng=state_rng)

  def num_params(self, params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))

  # -- training -------------------------------------------------------------------------------
  def _dropout_rng(self, state: LMState) -> Optional[jax.Array]:
    """The step's dropout key (None without dropout): a function of (rng, step), so resumes repeat it."""
    if not self.model.dropout:
      return None
    return jax.random.fold_in(jax.random.fold_in(state.rng, _DROPOUT_STREAM), state.step)

  def _loss(self, params, state: LMState, streams: Optional[jax.Array]):
    """(loss, (new carry, metrics)) for the step's batch (`streams`: the text source's rows)."""
    dropout_rng = self._dropout_rng(state)
    if self.source == "text":
      index = state.step % self.num_train_segments
      inputs, targets = text.segment(streams, index, self.seg_len)
      resets = jnp.broadcast_to(index == 0, (self.batch_size,))
      carry, logits, reconstruction = self._apply(self.model, params, state.carry, inputs, resets,
                                                  dropout_rng)
      mask = jnp.ones(targets.shape, jnp.float32)
      nats = _cross_entropy_sum(logits, targets, mask) / mask.size
      correct = jnp.mean((jnp.argmax(logits, -1) == targets).astype(jnp.float32))
    else:
      batch = parallel.shard_batch(
          self.task.sample(jax.random.fold_in(state.rng, state.step), self.batch_size), self.mesh)
      nats, correct, reconstruction = self._long_range_loss(self.model, params, batch, dropout_rng)
      carry = state.carry
    loss = nats + self.reconstruction_weight * reconstruction
    if self.nonfinite_steps:  # Test hook: a NaN loss (and so NaN gradients) at chosen steps.
      loss = loss * jnp.where(jnp.isin(state.step, jnp.asarray(self.nonfinite_steps)), jnp.nan, 1.0)
    return loss, (carry, {"loss": loss, "bits_per_token": nats / math.log(2),
                          "accuracy": correct, "reconstruction": reconstruction})

  def _long_range_loss(self, model, params, batch, dropout_rng=None):
    """Scans the segments from an empty memory; mean nats and accuracy at scored positions."""
    batch_size = batch.inputs.shape[0]
    segments = batch.inputs.reshape(batch_size, self.task.num_segments, self.task.seg_len)

    def step_fn(carry_and_rng, tokens):
      carry, rng = carry_and_rng
      segment_rng = None
      if rng is not None:  # A fresh dropout key per segment.
        rng, segment_rng = jax.random.split(rng)
      carry, logits, reconstruction = self._apply(model, params, carry, tokens,
                                                  dropout_rng=segment_rng)
      # dynamic_unroll wants batch-leading outputs.
      return (carry, rng), (logits, jnp.broadcast_to(reconstruction, (batch_size,)))

    carry = model.initialize_carry(None, (batch_size, self.task.seg_len))
    (logits, reconstruction), _ = dynamic_unroll(step_fn, segments, (carry, dropout_rng))
    logits = logits.reshape(batch_size, self.task.length, -1)
    count = jnp.sum(batch.mask)
    nats = _cross_entropy_sum(logits, batch.targets, batch.mask) / count
    hits = (jnp.argmax(logits, -1) == batch.targets).astype(jnp.float32) * batch.mask
    return nats, jnp.sum(hits) / count, jnp.mean(reconstruction)

  def train_step(self, state: LMState) -> Tuple[LMState, Dict[str, jax.Array]]:
    """One update (jitted); returns (new state, metrics)."""
    if self.source == "text" and self._device_streams is None:
      raise ValueError("this LMExperiment was built with for_training=False")
    return self._jitted_train_step(state, self._device_streams)

  def _train_step(self, state: LMState, streams: Optional[jax.Array]):
    """One update; a step with a NaN/Inf loss or gradient changes neither parameters nor memory."""
    grad_fn = jax.value_and_grad(self._loss, has_aux=True)
    (loss, (carry, metrics)), grads = grad_fn(state.params, state, streams)
    updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)  # zero updates when skipped
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    # The memory written by a NaN forward pass would poison the next segments.
    carry = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old), carry, state.carry)
    carry = parallel.shard_batch(carry, self.mesh)  # the memory stays with its rows' device
    metrics["grad_norm"] = grad_norm
    metrics["param_norm"] = optax.global_norm(params)
    metrics["nonfinite_total"] = opt_state.total_notfinite
    return LMState(step=state.step + 1, params=params, opt_state=opt_state, carry=carry,
                   rng=state.rng), metrics

  # -- evaluation -----------------------------------------------------------------------------
  def check_evaluation(self, batch_size: int) -> None:
    """Raises a ConfigError naming the keys when the validation text cannot fill the batches.

    Called before training, so that a run does not fail only at its first evaluation.
    """
    if self.source != "text":
      return
    try:
      text.num_segments(text.batchify(self.corpus.valid, batch_size), self.eval_seg_len)
    except ValueError as error:
      raise ConfigError(f"eval.batch_size={batch_size} with evaluation segments of "
                        f"{self.eval_seg_len} (eval.seg_len) does not fit the validation "
                        f"split of {self.corpus.path} ({len(self.corpus.valid)} tokens): "
                        f"{error}") from None

  def evaluate(self, params, max_segments: int = 0, batch_size: int = 16,
               mem_len: Optional[int] = None) -> Dict[str, float]:
    """Validation metrics: bits per character (text) or recall accuracy (long_range).

    Text: the split is cut into `batch_size` rows, each read in whole segments of
    `eval.seg_len` with its memory carried; `tokens` counts the targets scored and
    `coverage` their share of the split's len(valid) - 1 targets (a row's tail,
    shorter than a segment, is not scored: 99.6% are at the default config's
    batch 16 and segments of 32 on tiny Shakespeare). `mem_len` evaluates with
    that memory instead of `eval.mem_len` (same parameters).
    """
    if mem_len is not None:
      other = LMExperiment.__new__(LMExperiment)
      other.__dict__.update(self.__dict__)
      other.eval_model = self.eval_model.clone(mem_len=mem_len)
      return other.evaluate(params, max_segments, batch_size)
    if self.source == "long_range":
      batch = parallel.put_batch(
          jax.device_get(self.task.sample(jax.random.PRNGKey(2**31 - 1), batch_size)), self.mesh)
      nats, accuracy, _ = jax.jit(functools.partial(self._long_range_loss, self.eval_model))(
          params, batch)
      return {"accuracy": float(accuracy), "bits_per_token": float(nats) / math.log(2)}
    streams = text.batchify(self.corpus.valid, batch_size)
    inputs, targets = text.all_segments(streams, self.eval_seg_len)
    if max_segments:
      inputs, targets = inputs[:, :max_segments], targets[:, :max_segments]
    nats = self._eval_nats(params, *parallel.put_batch((inputs, targets), self.mesh))
    tokens = targets.size
    return {"bits_per_character": float(nats) / tokens / math.log(2), "tokens": tokens,
            "coverage": tokens / (len(self.corpus.valid) - 1)}

  def sample(self, params, num_tokens: int, prompt_length: int = 64, temperature: float = 0.8,
             seed: int = 0, prompt: Optional[str] = None) -> Dict[str, str]:
    """Text the model writes after `prompt` (default: the first `prompt_length` validation characters).

    Token by token with the key/value cache (`fast_eval.generate`; a compressive
    model with rate c > 1 advances its memories in segments of c), each token
    seeing the last max(eval memory, eval segment - 1) tokens (plus the
    compressed memory), so the vanilla model keeps the context it was trained
    with. Returns {"prompt", "continuation"}.
    """
    if self.source != "text":
      raise ConfigError(f"eval.sample_length: sampling needs text data, not "
                        f"data.source={self.source!r}")
    self._check_sampling(None if prompt else prompt_length, temperature)
    if prompt:
      try:
        prompt_ids = text.encode(self.corpus, prompt)
      except ValueError as error:
        raise ConfigError(f"prompt: {error}") from None
    else:
      prompt_ids = self.corpus.valid[:prompt_length]
    model = self.eval_model.clone(mem_len=max(self.eval_model.mem_len, self.eval_seg_len - 1))
    sampler = jax.jit(functools.partial(fast_eval.generate, model, num_tokens=num_tokens,
                                        temperature=temperature))
    prompt_array, key = parallel.replicate((np.asarray(prompt_ids[None]),
                                            jax.random.PRNGKey(seed)), self.mesh)
    tokens = sampler({"params": params}, prompt_array, key)
    return {"prompt": text.decode(self.corpus, prompt_ids),
            "continuation": text.decode(self.corpus, jax.device_get(tokens))}

  def _check_sampling(self, prompt_length: Optional[int], temperature: float) -> None:
    if prompt_length is not None and not 1 <= prompt_length <= len(self.corpus.valid):
      raise ConfigError(f"eval.sample_prompt_length={prompt_length} must be between 1 and the "
                        f"validation split's {len(self.corpus.valid)} tokens")
    if temperature < 0:
      raise ConfigError(f"eval.sample_temperature={temperature} must be >= 0")

  @functools.partial(jax.jit, static_argnums=0)
  def _eval_nats(self, params, inputs, targets):
    """Total nats over `[batch, segments, seg_len]` targets, memory carried across segments."""
    model = self.eval_model
    batch_size, _, seg_len = inputs.shape
    compressive = isinstance(model, CompressiveTransformer)
    if bool(self.config.get("eval", {}).get("cached", True)):
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
        return cache, _per_example_nats(logits, segment_targets)
    else:
      carry = model.initialize_carry(None, (batch_size, seg_len))

      def step_fn(carry, segment):
        tokens, segment_targets = segment
        carry, logits, _ = self._apply(model, params, carry, tokens)
        return carry, _per_example_nats(logits, segment_targets)

    per_segment, _ = dynamic_unroll(step_fn, (inputs, targets), carry)
    return jnp.sum(per_segment)


def load_experiment(workdir: str) -> Tuple[LMExperiment, Any, int]:
  """`(experiment, params, step)` of a char-LM run from its config.json and newest checkpoint.

  Raises:
    ConfigError when the workdir holds no config.json, another kind of run, or no checkpoint.
  """
  config = load_run_config(workdir)
  if config.get("experiment") != "char_lm":
    raise ConfigError(f"--workdir={workdir} is a {config.get('experiment')!r} run, not char_lm")
  experiment = LMExperiment(config, for_training=False)
  checkpointer = checkpoint_lib.Checkpointer(str(pathlib.Path(workdir) / "checkpoints"))
  # Shapes only (no eager init): the checkpoint supplies the values. Only the
  # parameters are read, so checkpoints of an older optimizer state still load.
  template = jax.eval_shape(experiment._initial_state, int(config.seed))
  restored, step = checkpointer.restore_latest({"params": template.params}, partial=True)
  checkpointer.close()
  if restored is None:
    raise ConfigError(f"--workdir={workdir} holds no checkpoint yet")
  return experiment, parallel.replicate(restored["params"], experiment.mesh), step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Trains `config.model` on `config.data`, evaluates, checkpoints; returns the results dict.

  See `configs/charlm_transformer_xl.py` for every field.
  """
  start_time = time.time() if start_time is None else start_time
  is_chief = jax.process_index() == 0
  # Before any work: a zero would divide by zero, or fail only after training.
  log_every = positive_int(config, "train.log_every")
  eval_every = positive_int(config, "train.eval_every")
  check_checkpoint_fields(config)
  workdir_path = check_workdir(config, workdir)
  experiment = LMExperiment(config)
  train = config.train
  eval_config = config.get("eval", ml_collections.ConfigDict())
  eval_batch_size = positive_int(config, "eval.batch_size", 16)
  experiment.check_evaluation(eval_batch_size)
  writer = metrics_lib.MetricWriter(workdir, enabled=is_chief)
  checkpointer = checkpoint_lib.Checkpointer(str(workdir_path / "checkpoints"),
                                             max_to_keep=train.get("keep_checkpoints", 3))
  state = experiment.init_state(int(config.seed))
  restored, restored_step = checkpointer.restore_latest(_checkpointable(state),
                                                        set_aside_unreadable=True)
  if restored is not None:
    restored = restored if isinstance(restored, LMState) else LMState(*restored)
    carry_saved = bool(jax.tree_util.tree_leaves(restored.carry))
    state = restored if carry_saved else restored._replace(carry=state.carry)
    print(f"Resumed from {checkpointer.step_path(restored_step)} (step {restored_step})",
          flush=True)
  num_params = experiment.num_params(state.params)
  print(f"{config.model.name}: {num_params} parameters, vocab {experiment.vocab_size}, "
        f"segment {experiment.seg_len}, mem_len {experiment.model.mem_len} "
        f"(eval {experiment.eval_model.mem_len})", flush=True)
  num_steps = int(train.num_steps)
  checkpoint_every = int(train.get("checkpoint_every", 0) or 0)
  stop_at_step = int(train.get("stop_at_step", 0) or 0)  # test hook: stop early, as a kill would
  stop_reason = "num_steps reached"
  eval_kwargs = dict(max_segments=int(eval_config.get("max_segments", 0) or 0),
                     batch_size=eval_batch_size)
  loop_start, loop_start_step = time.time(), int(state.step)
  step = int(state.step)
  # The evaluation history as of the restored step (`progress.LoopRecord`).
  loop_record = progress.LoopRecord(workdir_path, enabled=is_chief)
  history = list((loop_record.load(restored_step) or {}).get("history", []))
  eval_metrics = None

  def save_checkpoint(step, force=False):
    loop_record.save(step, {"history": history}, keep_steps=checkpointer.all_steps())
    checkpointer.save(step, _checkpointable(state), force=force)

  nonfinite = progress.NonfiniteWatch()
  while step < num_steps:
    state, step_metrics = experiment.train_step(state)
    step += 1
    nonfinite.add(state.opt_state.notfinite_count)
    if step % log_every == 0 or step == num_steps:
      host = {k: float(v) for k, v in jax.device_get(step_metrics).items()}
      rate = (step - loop_start_step) / max(time.time() - loop_start, 1e-9)
      host["steps_per_second"] = rate
      writer.write_scalars(step, host)
      print(f"step {step}/{num_steps} | loss {host['loss']:.4f} | train bits/token "
            f"{host['bits_per_token']:.4f} | acc {host['accuracy']:.3f} | {rate:.2f} steps/s | "
            f"ETA {metrics_lib.format_duration((num_steps - step) / max(rate, 1e-9))}"
            + (f" | {int(host['nonfinite_total'])} NaN/Inf steps skipped"
               if host["nonfinite_total"] else ""), flush=True)
    if step % log_every == 0 or (checkpoint_every and step % checkpoint_every == 0):
      streak = nonfinite.longest()
      if streak >= experiment.max_nonfinite:
        latest = checkpointer.latest_step()
        stop_reason = (f"stopped: {streak} consecutive NaN/Inf steps by step {step} "
                       f"(train.max_consecutive_nonfinite={experiment.max_nonfinite}); lower "
                       f"train.learning_rate or raise train.grad_clip_norm; last good "
                       f"checkpoint: "
                       f"{checkpointer.step_path(latest) if latest is not None else 'none'}")
        print(stop_reason, flush=True)
        break
    if step % eval_every == 0 or step == num_steps:
      eval_metrics = experiment.evaluate(state.params, **eval_kwargs)
      writer.write_scalars(step, {f"eval/{k}": v for k, v in eval_metrics.items()})
      history.append({"step": step, **eval_metrics})
      print(f"  eval @ {step}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else
                                             f"{k} {v}" for k, v in eval_metrics.items()),
            flush=True)
    if checkpoint_every and step % checkpoint_every == 0:
      save_checkpoint(step)
    if stop_at_step and step >= stop_at_step:
      stop_reason = f"train.stop_at_step={stop_at_step} reached"
      break
  if checkpointer.latest_step() != step:
    save_checkpoint(step, force=True)
  if eval_metrics is None:
    eval_metrics = experiment.evaluate(state.params, **eval_kwargs)
  by_mem_len = {}
  for mem_len in tuple(eval_config.get("compare_mem_lens", ())):
    by_mem_len[str(mem_len)] = experiment.evaluate(state.params, mem_len=int(mem_len),
                                                   **eval_kwargs)
    print(f"  eval with mem_len {mem_len}: {by_mem_len[str(mem_len)]}", flush=True)
  sample = None
  if experiment.sample_length and experiment.source == "text":
    sample = experiment.sample(state.params, experiment.sample_length,
                               experiment.sample_prompt_length, experiment.sample_temperature,
                               int(config.seed))
    print(f"  sample, temperature {experiment.sample_temperature}\n--- prompt (validation "
          f"text) ---\n{sample['prompt']}\n--- model ---\n{sample['continuation']}", flush=True)
  results = {
      "model": config.model.name,
      "source": experiment.source,
      "num_params": num_params,
      "steps": step,
      "stop_reason": stop_reason,
      "nonfinite_steps_skipped": int(state.opt_state.total_notfinite),
      "train_mem_len": experiment.model.mem_len,
      "eval_mem_len": experiment.eval_model.mem_len,
      "seg_len": experiment.seg_len,
      "eval": eval_metrics,
      "eval_history": history,
      "eval_by_mem_len": by_mem_len,
      "sample": sample,
      "wall_seconds": time.time() - start_time,
      "devices": [str(d) for d in jax.devices()],
      "data_parallel_devices": int(experiment.mesh.size),
  }
  results_path = metrics_lib.write_results(workdir, results, enabled=is_chief)
  writer.close()
  checkpointer.close()
  results["results_path"] = results_path
  return results
