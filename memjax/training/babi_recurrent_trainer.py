"""bAbI for recurrent memory cores, word by word, as in the DNC paper (Graves et al. 2016).

    train_and_evaluate(config, workdir)       # config.experiment = "babi_recurrent"

Each story is one sequence of one-hot words (`memjax.data.babi.story_words`):
statements end with ".", questions with "?", and each answer word is an
answer step whose input is "-"; the core (`model.name` = dnc | ntm | lstm |
any registered core) must emit the answer word there. The softmax
cross-entropy is averaged over answer steps only (the mask); every other step
has weight zero. Joint training on all requested tasks at once.

Sequences are padded to the smallest of `train.length_buckets` that holds
them (a bucket is added for the longest story if none does), and every batch
comes from one bucket, so the jitted step compiles once per bucket, never
per story. The core is unrolled with `memjax.cores.dynamic_unroll` (lax.scan).
A question counts as wrong if any of its answer words is wrong; the report is
per-task test error, mean error and failed tasks (> 5%), with the seed chosen
by mean validation error (`babi_trainer.summarize`). `num_seeds = K` trains K
models in one program (`jax.vmap` over parameters, optimizer states and
batches; each seed draws its own stories).

Batches are a pure function of `(seed, step)`, so a relaunch with the same
`--workdir` resumes from the newest good checkpoint and sees what an
uninterrupted run would have. Outputs: results.json, log.txt, TensorBoard
events, checkpoints/.
"""
import functools
import json
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax.cores import build_core, dynamic_unroll
from memjax.cores.base import init_core
from memjax.data import babi
from memjax.training import checkpoint as checkpoint_lib
from memjax.training import metrics as metrics_lib
from memjax.training import optim
from memjax.training import parallel
from memjax.training.babi_trainer import FAILED_TASK_ERROR_PCT, summarize
from memjax.training.errors import ConfigError
from memjax.training.trainer import check_workdir

# The keys each block may hold; anything else is named in a one-line error.
_TOP_FIELDS = {"experiment", "seed", "num_seeds", "label", "machine", "data", "model", "train",
               "parallel"}
_DATA_FIELDS = {"babi_dir", "setting", "tasks", "skip_missing", "validation_fraction",
                "max_train_length"}
_TRAIN_FIELDS = {"batch_size", "num_steps", "optimizer", "learning_rate", "schedule",
                 "warmup_steps", "decay_steps", "decay_rate", "weight_decay", "momentum",
                 "grad_clip_norm", "length_buckets", "scan_unroll", "remat", "log_every",
                 "eval_every", "eval_batch_size", "checkpoint_every", "keep_checkpoints",
                 "stop_at_step"}
# Train fields the jitted functions never read (batch shapes retrace by themselves).
_HOST_ONLY_TRAIN_FIELDS = ("batch_size", "length_buckets", "log_every", "eval_every",
                           "eval_batch_size", "checkpoint_every", "keep_checkpoints",
                           "stop_at_step")
DNC_PAPER = {"mean_error_pct": 16.7, "mean_error_std_pct": 7.6, "best_error_pct": 3.8,
             "mean_failed_tasks": 11.2, "best_failed_tasks": 2,
             "note": "DNC, joint en-10k, 20 runs (Graves et al. 2016, Table 1)"}


class TrainState(NamedTuple):
  """Everything needed to resume; params / opt_state leaves lead with `[num_seeds]`.

  Attributes:
    step: `[]` int32 updates done (also the data pipeline's position).
    params: the cores' parameters.
    opt_state: optax states.
    nonfinite_total: `[num_seeds]` int32 updates skipped for a NaN/Inf loss or gradient.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  nonfinite_total: jax.Array


def masked_softmax_cross_entropy(logits: jax.Array, targets: jax.Array,
                                 mask: jax.Array) -> jax.Array:
  """Mean cross-entropy over the answer steps (`mask` True); other steps weigh zero.

  Args:
    logits: `[..., time, vocab]`.
    targets: `[..., time]` int word ids (any value where `mask` is False).
    mask: `[..., time]` bool or 0/1.
  """
  mask = mask.astype(logits.dtype)
  per_step = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  return jnp.sum(jnp.where(mask > 0, per_step, 0.0)) / jnp.maximum(jnp.sum(mask), 1.0)


# ---------------------------------------------------------------------------
# Config checks: one line naming the field.

def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first unknown or unusable field."""
  for key in config.keys():
    if key not in _TOP_FIELDS:
      raise ConfigError(f"config.{key} is not a field of experiment 'babi_recurrent'; the "
                        f"top level has {sorted(_TOP_FIELDS)}")
  for block, allowed in (("data", _DATA_FIELDS), ("train", _TRAIN_FIELDS),
                         ("parallel", {"num_devices"})):
    if block == "parallel" and block not in config:  # optional: all devices
      continue
    if block not in config:
      raise ConfigError(f"config.{block} is missing (see configs/babi_dnc.py)")
    unknown = sorted(set(config[block].keys()) - allowed)
    if unknown:
      raise ConfigError(f"config.{block}.{unknown[0]} is not a field of experiment "
                        f"'babi_recurrent'; {block} has {sorted(allowed)}")
  data, train = config.data, config.train

  def positive(block, name, value, minimum=1):
    if value < minimum:
      field = f"{block}.{name}" if block else name
      raise ConfigError(f"config.{field}={value} must be >= {minimum}")

  if data.setting not in babi.SETTINGS:
    raise ConfigError(f"config.data.setting={data.setting!r} is not one of {babi.SETTINGS}")
  tasks = [int(t) for t in data.tasks]
  bad = [t for t in tasks if t not in babi.TASK_NAMES]
  if not tasks or bad:
    raise ConfigError(f"config.data.tasks={tuple(data.tasks)} must be bAbI tasks in 1..20")
  if not 0.0 <= float(data.validation_fraction) < 1.0:
    raise ConfigError(f"config.data.validation_fraction={data.validation_fraction} must be "
                      "in [0, 1)")
  positive("data", "max_train_length", int(data.max_train_length), 0)
  positive("", "num_seeds", int(config.num_seeds))
  for name in ("batch_size", "num_steps", "log_every", "eval_every", "eval_batch_size",
               "scan_unroll", "keep_checkpoints"):
    positive("train", name, int(train[name]))
  positive("train", "checkpoint_every", int(train.checkpoint_every), 0)
  if float(train.learning_rate) <= 0:
    raise ConfigError(f"config.train.learning_rate={train.learning_rate} must be > 0")
  if float(train.grad_clip_norm) < 0:
    raise ConfigError(f"config.train.grad_clip_norm={train.grad_clip_norm} must be >= 0 "
                      "(0: off)")
  buckets = [int(b) for b in train.length_buckets]
  if any(b < 1 for b in buckets) or buckets != sorted(set(buckets)):
    raise ConfigError(f"config.train.length_buckets={tuple(train.length_buckets)} must be "
                      "increasing positive lengths")
  if train.optimizer not in optim.OPTIMIZERS:
    raise ConfigError(f"config.train.optimizer={train.optimizer!r} is not one of "
                      f"{optim.OPTIMIZERS}")
  if train.get("schedule", "constant") not in optim.SCHEDULES:
    raise ConfigError(f"config.train.schedule={train.schedule!r} is not one of "
                      f"{optim.SCHEDULES}")


def check_model(config: ml_collections.ConfigDict, vocab_size: int = 8) -> None:
  """Raises ConfigError naming a `model` field the core lacks or cannot use (no data needed)."""
  try:
    core = build_core(dict(config.model), vocab_size)
    jax.eval_shape(lambda rng: init_core(core, rng, (1, vocab_size)), jax.random.PRNGKey(0))
  except ValueError as error:
    raise ConfigError(str(error)) from None


# ---------------------------------------------------------------------------
# Data: stories bucketed by length.

class Bucket(NamedTuple):
  """Stories padded to one length; `index` maps them back to the split's story order."""
  length: int
  stories: babi.EncodedStories
  index: np.ndarray


def bucket_lengths(lengths: Sequence[int], buckets: Sequence[int]) -> List[int]:
  """The bucket lengths in use: those of `buckets` that hold some story, plus one for
  stories longer than them all (the longest, rounded up to a multiple of 64)."""
  lengths = np.asarray(lengths)
  used, lower = [], 0
  for bucket in buckets:
    if np.any((lengths > lower) & (lengths <= bucket)):
      used.append(int(bucket))
    lower = bucket
  longest = int(lengths.max()) if lengths.size else 0
  if longest > lower:
    used.append(int(-(-longest // 64) * 64))
  return used


def make_buckets(stories: Sequence[babi.Story], vocab: babi.Vocabulary,
                 buckets: Sequence[int]) -> List[Bucket]:
  """Splits `stories` by length into `Bucket`s of `bucket_lengths(...)`."""
  lengths = np.asarray([babi.story_length(s) for s in stories], np.int64)
  out, lower = [], 0
  for length in bucket_lengths(lengths, buckets):
    index = np.nonzero((lengths > lower) & (lengths <= length))[0]
    lower = length
    if index.size:
      out.append(Bucket(length, babi.encode_stories([stories[i] for i in index], vocab, length),
                        index))
  return out


def question_errors(split_buckets: Sequence[Tuple[Bucket, np.ndarray]],
                    tasks: Sequence[int]) -> np.ndarray:
  """`[num_seeds, len(tasks)]` percent of questions with any answer word wrong.

  Args:
    split_buckets: (bucket, predicted ids `[num_seeds, stories, length]`) pairs.
    tasks: task numbers of the columns (NaN for a task without questions here).
  """
  wrong_per_task = None
  count_per_task = np.zeros(len(tasks))
  column = {t: i for i, t in enumerate(tasks)}
  for bucket, predicted in split_buckets:
    s = bucket.stories
    num_seeds = predicted.shape[0]
    if wrong_per_task is None:
      wrong_per_task = np.zeros((num_seeds, len(tasks)))
    max_q = int(s.num_questions.max())
    step_wrong = (predicted != s.targets[None]) & s.mask[None]          # [K, n, T]
    story_ids, steps = np.nonzero(s.mask)
    keys = story_ids * max_q + s.question[story_ids, steps]
    question_wrong = np.zeros((num_seeds, s.num_stories * max_q), bool)
    for k in range(num_seeds):
      np.logical_or.at(question_wrong[k], keys, step_wrong[k, story_ids, steps])
    question_wrong = question_wrong.reshape(num_seeds, s.num_stories, max_q)
    real = np.arange(max_q)[None, :] < s.num_questions[:, None]           # [n, max_q]
    for task in np.unique(s.task):
      rows = s.task == task
      wrong_per_task[:, column[int(task)]] += (question_wrong[:, rows] & real[rows]).sum(axis=(1, 2))
      count_per_task[column[int(task)]] += real[rows].sum()
  if wrong_per_task is None:
    return np.full((1, len(tasks)), np.nan)
  with np.errstate(invalid="ignore", divide="ignore"):
    return 100.0 * wrong_per_task / count_per_task[None]


# ---------------------------------------------------------------------------
# The experiment.

class RecurrentBabi:
  """A registered core over one-hot words, with jitted train and predict steps."""

  def __init__(self, config: ml_collections.ConfigDict, vocab_size: int):
    self.config = config
    self.vocab_size = vocab_size
    self.num_seeds = int(config.num_seeds)
    try:
      self.core = build_core(dict(config.model), vocab_size)
    except ValueError as error:
      raise ConfigError(str(error)) from None
    self.optimizer = optim.make_optimizer(config.train)
    # Data parallel: each step's stories split along the mesh's `data` axis
    # (every seed's batch alike), parameters replicated, gradients all-reduced.
    self.mesh = parallel.config_mesh(config)
    parallel.check_batch_size(int(config.train.batch_size), self.mesh)
    self.unroll = int(config.train.scan_unroll)
    self.remat = bool(config.train.remat)
    # Checks the core's sizes now, with its one-line message, rather than inside jit.
    jax.eval_shape(self._init_seed, jax.random.PRNGKey(0))
    # Experiments equal in what the jitted functions read share compiled code (jit
    # keys on the static `self`), so a resumed run in the same process compiles nothing.
    host_only = set(_HOST_ONLY_TRAIN_FIELDS)
    if config.train.get("schedule", "constant") == "constant":
      host_only.add("num_steps")
    self._cache_key = json.dumps(
        {"model": config.model.to_dict(), "num_seeds": self.num_seeds, "vocab": vocab_size,
         "devices": [d.id for d in self.mesh.devices.flat],
         "train": {k: v for k, v in config.train.to_dict().items() if k not in host_only}},
        sort_keys=True, default=str)

  def __hash__(self):
    return hash(self._cache_key)

  def __eq__(self, other):
    return isinstance(other, RecurrentBabi) and self._cache_key == other._cache_key

  def _init_seed(self, rng):
    params = init_core(self.core, rng, (1, self.vocab_size))["params"]
    return params, self.optimizer.init(params)

  @functools.partial(jax.jit, static_argnums=0)
  def _init_seeds(self, rngs):
    return jax.vmap(self._init_seed)(rngs)

  def init_state(self, seed: int) -> TrainState:
    params, opt_state = self._init_seeds(jax.random.split(jax.random.PRNGKey(seed),
                                                          self.num_seeds))
    return parallel.replicate(TrainState(jnp.zeros((), jnp.int32), params, opt_state,
                                         jnp.zeros((self.num_seeds,), jnp.int32)), self.mesh)

  def put_batch(self, inputs, targets, mask):
    """Host `[num_seeds, batch, time]` arrays -> global arrays split along the batch axis."""
    return parallel.put_batch((inputs, targets, mask), self.mesh, axis=1)

  def logits(self, params, inputs: jax.Array) -> jax.Array:
    """`[batch, time]` word ids -> `[batch, time, vocab]` logits, one word per step."""
    variables = {"params": params}
    one_hot = jax.nn.one_hot(inputs, self.vocab_size, dtype=jnp.float32)
    carry = self.core.apply(variables, jax.random.PRNGKey(0), one_hot[:, 0].shape,
                            method=self.core.initialize_carry)
    apply = lambda v, c, x: self.core.apply(v, c, x)
    if self.remat:  # recompute each step in the backward pass: memory O(carry), not O(T carry)
      apply = jax.checkpoint(apply)
    step_fn = lambda c, x: apply(variables, c, x)
    return dynamic_unroll(step_fn, one_hot, carry, unroll=self.unroll)[0]

  def _over_seeds(self, function, *args):
    """vmap over the leading seed axis of every argument; one seed skips the vmap."""
    if self.num_seeds > 1:
      return jax.vmap(function)(*args)
    squeezed = [jax.tree_util.tree_map(lambda leaf: leaf[0], arg) for arg in args]
    return jax.tree_util.tree_map(lambda leaf: leaf[None], function(*squeezed))

  def _seed_step(self, params, opt_state, inputs, targets, mask):
    def loss_fn(p):
      logits = self.logits(p, inputs)
      return masked_softmax_cross_entropy(logits, targets, mask), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
    right = (jnp.argmax(logits, -1) == targets) & mask
    metrics = {"loss": loss, "answer_step_accuracy": jnp.sum(right) / jnp.maximum(jnp.sum(mask), 1),
               "grad_norm": grad_norm, "param_norm": optax.global_norm(params),
               "learning_rate": optim.current_learning_rate(opt_state), "finite": finite}
    return keep(new_params, params), keep(new_opt_state, opt_state), metrics

  @functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
  def train_step(self, state: TrainState, inputs, targets, mask):
    """One update of every seed; inputs/targets/mask `[num_seeds, batch, time]`."""
    params, opt_state, metrics = self._over_seeds(self._seed_step, state.params, state.opt_state,
                                                  inputs, targets, mask)
    finite = metrics.pop("finite")
    return TrainState(state.step + 1, params, opt_state,
                      state.nonfinite_total + (~finite).astype(jnp.int32)), metrics

  @functools.partial(jax.jit, static_argnums=0)
  def predict(self, params, inputs):
    """`[num_seeds, batch, time]` argmax word ids of every seed on `[batch, time]` inputs."""
    return jax.lax.map(lambda p: jnp.argmax(self.logits(p, inputs), -1).astype(jnp.int32),
                       params)


def _split_errors(experiment: RecurrentBabi, params, buckets: Sequence[Bucket],
                  tasks: Sequence[int], batch_size: int) -> np.ndarray:
  """`[num_seeds, len(tasks)]` question error (%) on one split, fixed-size chunks per bucket."""
  pairs = []
  for bucket in buckets:
    s = bucket.stories
    chunks = []
    for start in range(0, s.num_stories, batch_size):
      chunk = s.inputs[start:start + batch_size]
      padded = np.zeros((batch_size, bucket.length), np.int32)
      padded[:len(chunk)] = chunk
      predicted = experiment.predict(params, parallel.put_batch(padded, experiment.mesh))
      chunks.append(parallel.to_host(predicted)[:, :len(chunk)])
    pairs.append((bucket, np.concatenate(chunks, axis=1)))
  return question_errors(pairs, tasks)


def _per_task(errors: np.ndarray, tasks: Sequence[int]) -> Dict[str, Any]:
  return {str(t): errors[:, i] for i, t in enumerate(tasks)}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Trains `config.model` on bAbI stories jointly; evaluates per task; returns the results.

  Args:
    config: see `configs/babi_dnc.py` for every field.
    workdir: results.json, log.txt, TensorBoard events, checkpoints; relaunching resumes.
    start_time: `time.time()` at process launch, so wall time includes start-up.
  """
  start_time = time.time() if start_time is None else start_time
  check_config(config)
  check_model(config)
  data_cfg, train = config.data, config.train
  requested = [int(t) for t in data_cfg.tasks]
  missing = babi.find_missing_files(data_cfg.babi_dir, data_cfg.setting, requested)
  if missing and not data_cfg.skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(f)}" for t, f in missing.items())
    raise ConfigError(f"bAbI {data_cfg.setting} lacks {listed}; drop those tasks from "
                      "--config.data.tasks or set --config.data.skip_missing=True")
  for task, files in missing.items():
    print(f"bAbI {data_cfg.setting}: task {task} skipped, missing {', '.join(files)}", flush=True)
  is_chief = jax.process_index() == 0  # process 0 writes logs and results; all write checkpoints
  workdir_path = check_workdir(config, workdir)
  data = babi.load_babi_stories(data_cfg.babi_dir, data_cfg.setting, requested,
                                validation_fraction=float(data_cfg.validation_fraction),
                                skip_missing=bool(data_cfg.skip_missing))
  tasks = data.tasks
  max_train_length = int(data_cfg.max_train_length)
  train_stories = data.train
  if max_train_length:
    train_stories = [s for s in data.train if babi.story_length(s) <= max_train_length]
    print(f"data.max_train_length={max_train_length}: training on {len(train_stories)} of "
          f"{len(data.train)} stories", flush=True)
  if not train_stories:
    raise ConfigError(f"no training story is at most config.data.max_train_length="
                      f"{max_train_length} words long")
  length_buckets = [int(b) for b in train.length_buckets]
  train_buckets = make_buckets(train_stories, data.vocab, length_buckets)
  valid_buckets = make_buckets(data.valid, data.vocab, length_buckets)
  test_buckets = make_buckets(data.test, data.vocab, length_buckets)
  bucket_sizes = np.asarray([b.stories.num_stories for b in train_buckets], np.float64)
  print(f"bAbI {data.setting} tasks {tasks}: {len(train_stories)} train / {len(data.valid)} "
        f"valid / {len(data.test)} test stories, vocabulary {len(data.vocab)}, train buckets "
        + ", ".join(f"{b.length}:{b.stories.num_stories}" for b in train_buckets), flush=True)

  experiment = RecurrentBabi(config, len(data.vocab))
  num_seeds, batch_size = experiment.num_seeds, int(train.batch_size)
  writer = metrics_lib.MetricWriter(str(workdir_path), enabled=is_chief)
  checkpointer = checkpoint_lib.Checkpointer(str(workdir_path / "checkpoints"),
                                             max_to_keep=int(train.keep_checkpoints))
  state = experiment.init_state(int(config.seed))
  restored, restored_step = checkpointer.restore_latest(state, set_aside_unreadable=True)
  resumed_from_step = None
  if restored is not None:
    state = TrainState(*restored)
    resumed_from_step = int(restored_step)
    print(f"Resumed from {checkpointer.step_path(restored_step)} (step {restored_step})",
          flush=True)

  def sample(step: int):
    """Every seed's batch for `step`: one bucket (drawn by its share of stories), own stories."""
    rng = np.random.default_rng([int(config.seed), step])
    bucket = train_buckets[rng.choice(len(train_buckets), p=bucket_sizes / bucket_sizes.sum())]
    index = rng.integers(0, bucket.stories.num_stories, (num_seeds, batch_size))
    s = bucket.stories
    return s.inputs[index], s.targets[index], s.mask[index]

  eval_size = int(train.eval_batch_size)
  num_steps = int(train.num_steps)
  stop_at = int(train.get("stop_at_step", 0) or 0)
  last_step = min(num_steps, stop_at) if stop_at else num_steps
  log_every, eval_every = int(train.log_every), int(train.eval_every)
  checkpoint_every = int(train.checkpoint_every)
  step = int(state.step)
  loop_start, loop_start_step = time.time(), step
  history = []
  while step < last_step:
    state, step_metrics = experiment.train_step(state, *experiment.put_batch(*sample(step)))
    step += 1
    if step % log_every == 0 or step == last_step:
      host = {k: np.asarray(v) for k, v in jax.device_get(step_metrics).items() if v is not None}
      rate = (step - loop_start_step) / max(time.time() - loop_start, 1e-9)
      writer.write_scalars(step, {**host, "steps_per_second": rate,
                                  "nonfinite_total": np.asarray(state.nonfinite_total)})
      print(f"step {step}/{num_steps} | loss {float(np.mean(host['loss'])):.4f} | answer steps "
            f"right {float(np.mean(host['answer_step_accuracy'])):.3f} | {rate:.2f} steps/s | "
            f"{time.time() - start_time:.0f}s | ETA "
            f"{metrics_lib.format_duration((last_step - step) / max(rate, 1e-9))}", flush=True)
    if step % eval_every == 0 and step < last_step and valid_buckets:
      valid = _split_errors(experiment, state.params, valid_buckets, tasks, eval_size)
      mean = np.nanmean(valid, axis=1)
      writer.write_scalars(step, {"eval/valid_mean_error_pct": mean,
                                  **{f"eval/valid_error_pct/task{t}": valid[:, i]
                                     for i, t in enumerate(tasks)}})
      history.append({"step": step, "valid_mean_error_pct": mean,
                      "valid_error_pct": _per_task(valid, tasks)})
      print(f"  eval @ {step}: valid mean error {', '.join(f'{m:.1f}%' for m in mean)}; per task "
            + " ".join(f"{t}:{valid[:, i].min():.0f}" for i, t in enumerate(tasks)), flush=True)
    if checkpoint_every and step % checkpoint_every == 0:
      checkpointer.save(step, state)
  if checkpointer.latest_step() != step:
    checkpointer.save(step, state, force=True)
  checkpointer.close()
  train_seconds = time.time() - loop_start

  test = _split_errors(experiment, state.params, test_buckets, tasks, eval_size)
  if valid_buckets:
    valid = _split_errors(experiment, state.params, valid_buckets, tasks, eval_size)
  else:  # validation_fraction = 0: choose seed 0
    valid = np.zeros_like(test)
  summary = summarize(test, valid, tasks, joint=True)
  results = {
      "experiment": "babi_recurrent",
      "label": str(config.get("label", config.model.name)),
      "model": config.model.name,
      "setting": data.setting,
      "tasks": tasks,
      "missing": data.missing,
      "num_seeds": num_seeds,
      "steps": step,
      "vocab_size": len(data.vocab),
      "num_stories": {"train": len(train_stories), "valid": len(data.valid),
                      "test": len(data.test)},
      "train_buckets": {str(b.length): b.stories.num_stories for b in train_buckets},
      "failed_task_threshold_pct": FAILED_TASK_ERROR_PCT,
      **summary,
      "history": history,
      "dnc_paper": DNC_PAPER,
      "resumed_from_step": resumed_from_step,  # times below cover this launch only
      "train_seconds": train_seconds,
      "wall_seconds": time.time() - start_time,
      "nonfinite_steps_skipped": np.asarray(state.nonfinite_total),
      "machine": str(config.get("machine", "")),
      "devices": [str(d) for d in jax.devices()],
      "data_parallel_devices": int(experiment.mesh.size),
  }
  results["results_path"] = metrics_lib.write_results(str(workdir_path), results,
                                                      enabled=is_chief)
  best, failed = results["best_mean_test_error_pct"], results["best_failed_tasks"]
  writer.log(f"best-of-{num_seeds} mean test error {best:.2f}% failed {failed}")
  writer.close()
  print("test error per task (%): " + " ".join(
      f"{t}:{e:.1f}" for t, e in results["best_test_error_pct"].items()), flush=True)
  print(f"{config.model.name} joint {data.setting} after {step} steps: mean test error "
        f"{best:.2f}%, failed tasks (>{FAILED_TASK_ERROR_PCT:g}%) {failed} of {len(tasks)}"
        + (f" (best of {num_seeds} by validation)" if num_seeds > 1 else "")
        + f"; wall {metrics_lib.format_duration(results['wall_seconds'])}", flush=True)
  return results
