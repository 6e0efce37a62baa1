"""Memory networks on bAbI: per-task or joint training of many seeds at once.

The authors' recipe (Sukhbaatar et al. 2015, sec. 4.2, and their MATLAB code):
plain SGD on the cross-entropy *summed* over a batch of 32, each weight
matrix's gradient clipped to norm 40, nil-word embedding reset to zero after
every step, learning rate 0.01 halved every 25 epochs for 100 epochs (per
task, d = 20) or every 15 epochs for 60 epochs (joint, d = 50). Linear start
(LS) first trains `ls_epochs` epochs without the softmax in the hops at
learning rate 0.005, then puts it back. Random noise (RN) interleaves ~10%
empty memories through the temporal index. 10% of each task's training
questions are held out; of `num_seeds` runs the one with the lowest
validation error is reported (best of 10 in the paper), plus mean +/- std.

Speed: one epoch is one jitted `lax.scan` over its batches, and the whole
epoch is `jax.vmap`-ed over seeds (params and PRNG keys), so the host only
sees one call per epoch. With several devices the seeds are split over them
(the mesh's `data` axis holds seeds here: a batch of 32 is too small to
split), so 8 seeds on 8 devices train side by side with no communication.

Outputs in `workdir`: results.json (per task and seed errors, best seed,
mean / std / failed tasks, wall time), log.txt, TensorBoard events,
checkpoints (resumable per epoch).
"""
import functools
import math
import pathlib
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax.data import babi
from memjax.models import kvmemnn, memn2n
from memjax.training import checkpoint as checkpoint_lib
from memjax.training import metrics as metrics_lib
from memjax.training import parallel
from memjax.training.errors import ConfigError
from memjax.training.trainer import check_workdir

FAILED_TASK_ERROR_PCT = 5.0  # the paper counts a task as failed above 5% test error
_EVAL_CHUNK = 500            # questions per evaluation chunk (bounds memory)
MODELS = ("memn2n", "kvmemnn")


class BabiModel(NamedTuple):
  """A memory network as pure functions (see `memn2n.apply_batch`)."""
  name: str
  config: Any
  init: Callable            # (rng) -> params
  apply_batch: Callable     # (params, memory, memory_mask, query, time_index, linear) -> output
  zero_nil: Callable        # params -> params


class TrainState(NamedTuple):
  """Every seed's training state; leaves carry a leading `[num_seeds]` axis.

  Attributes:
    params: model parameters, each `[num_seeds, ...]`.
    rng: `[num_seeds, 2]` uint32 PRNG keys.
    epoch: scalar int32, epochs done.
  """
  params: Dict[str, jax.Array]
  rng: jax.Array
  epoch: jax.Array


def pe_length(model_config: ml_collections.ConfigDict, sentence_length: int,
              query_length: int) -> int:
  """J of the authors' position encoding: longest sentence or question, + 1 time word."""
  return max(sentence_length, query_length) + (1 if model_config.temporal else 0)


def build_model(model_config: ml_collections.ConfigDict, vocab_size: int,
                memory_size: int, sentence_length: int = 0, query_length: int = 0) -> BabiModel:
  """`config.model` -> `BabiModel` (memn2n or kvmemnn).

  `sentence_length` and `query_length` (the data's padded lengths) fix J of
  `encoding="position_authors"`.
  """
  name = model_config.name
  common = dict(vocab_size=vocab_size, memory_size=memory_size,
                embedding_dim=int(model_config.embedding_dim), num_hops=int(model_config.num_hops),
                encoding=model_config.encoding, temporal=bool(model_config.temporal),
                init_std=float(model_config.init_std),
                pe_length=pe_length(model_config, sentence_length, query_length))
  common["null_attention"] = bool(model_config.get("null_attention", False))
  if name == "memn2n":
    cfg = memn2n.MemN2NConfig(tying=model_config.tying, **common)
    module = memn2n
  elif name == "kvmemnn":
    cfg = kvmemnn.KVMemNNConfig(**common)
    module = kvmemnn
  else:
    raise ConfigError(f"config.model.name={name!r} is not one of {MODELS}")

  def apply_batch(params, memory, memory_mask, query, time_index=None, linear=False):
    return module.apply_batch(params, memory, memory_mask, query, cfg, time_index, linear)

  return BabiModel(name=name, config=cfg, init=lambda rng: module.init_params(rng, cfg),
                   apply_batch=apply_batch, zero_nil=module.zero_nil_embeddings)


def halvings(epoch: int, decay_every: int, rule: str) -> int:
  """Times the learning rate was halved before 0-based `epoch` of a phase.

  rule "authors": halved at the start of every epoch e with (e + 1) % decay_every == 0,
  as their code does (first after decay_every - 1 epochs); "every": after each
  full `decay_every` epochs.
  """
  if rule == "authors":
    return (epoch + 1) // decay_every
  if rule == "every":
    return epoch // decay_every
  raise ConfigError(f"config.train.decay_rule={rule!r} is not 'authors' or 'every'")


def clip_per_matrix(grads: Dict[str, jax.Array], max_norm: float) -> Dict[str, jax.Array]:
  """Rescales each matrix's gradient to norm <= max_norm (authors' per-module clipping)."""
  def clip(g):
    norm = jnp.sqrt(jnp.sum(g * g))
    return g * jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-12))
  return jax.tree_util.tree_map(clip, grads)


def learning_rate_at(epoch: int, train: ml_collections.ConfigDict):
  """(learning rate, linear) of 0-based `epoch`: the LS phase first, then the main one."""
  ls_epochs = int(train.ls_epochs) if train.linear_start else 0
  rule = train.get("decay_rule", "every")
  if epoch < ls_epochs:
    return (float(train.ls_learning_rate) * 0.5 ** halvings(epoch, int(train.ls_decay_every), rule),
            True)
  main_epoch = epoch - ls_epochs
  return float(train.learning_rate) * 0.5 ** halvings(main_epoch, int(train.decay_every), rule), False


def total_epochs(train: ml_collections.ConfigDict) -> int:
  return int(train.num_epochs) + (int(train.ls_epochs) if train.linear_start else 0)


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


def make_train_epoch(model: BabiModel, batch_size: int, noise_fraction: float,
                     max_grad_norm: float, linear: bool, buckets: Sequence[np.ndarray],
                     sizes: Sequence[int], memory_size: int) -> Callable:
  """Jitted epoch over all seeds: `(params, rng, order_rng, lr, arrays) -> (params, loss, error)`.

  `arrays` is the training split's `TrainArrays`.

  Memory-length buckets make an epoch ~4x cheaper on bAbI (82% of memory
  slots are empty): every batch comes from one bucket and the model reads
  only that bucket's first `size` slots, which gives exactly the same output
  as the full memory because the rest are masked. Each seed shuffles each
  bucket with its own key (`rng`, `[num_seeds, 2]`); the order in which
  buckets' batches are interleaved uses `order_rng`, shared by all seeds, so
  that under `vmap` the `lax.switch` over buckets stays a real branch. A
  bucket's last incomplete batch is dropped (different questions each
  epoch). `loss` is the mean per-question cross-entropy and `error` the
  training error rate, both `[num_seeds]`.
  """
  sizes = bucket_sizes(sizes, memory_size)
  batches_per_bucket = [len(b) // batch_size for b in buckets]
  if sum(batches_per_bucket) == 0:
    raise ConfigError(f"config.train.batch_size={batch_size} exceeds every memory bucket "
                      f"({[len(b) for b in buckets]} questions); lower it or "
                      "config.train.memory_buckets")
  bucket_of_batch = np.concatenate([np.full(n, i, np.int32)
                                    for i, n in enumerate(batches_per_bucket)])
  bucket_indices = [jnp.asarray(b, jnp.int32) for b in buckets]

  def seed_epoch(params, rng, order, bucket_ids, learning_rate, arrays):
    shuffle_rngs = jax.random.split(rng, len(buckets) + 1)
    batches = []
    for i, (indices, count) in enumerate(zip(bucket_indices, batches_per_bucket)):
      if count:
        chosen = jax.random.permutation(shuffle_rngs[i], indices)[:count * batch_size]
        batches.append(chosen.reshape(count, batch_size))
    batches = jnp.concatenate(batches)[order]

    def sized_step(size, params, index, key):
      b_memory = arrays.memory_features[arrays.memory_ids[index][:, :size]]  # [B, size, F, V]
      b_mask = arrays.memory_mask[index][:, :size]
      b_query = arrays.query_features[arrays.query_ids[index]]              # [B, F, V]
      b_answer = arrays.answer[index]
      if noise_fraction > 0:
        time_index = jax.vmap(memn2n.random_time_index, in_axes=(0, 0, None, None))(
            jax.random.split(key, batch_size), b_mask, noise_fraction, memory_size)
      else:
        time_index = jnp.broadcast_to(jnp.arange(size), b_mask.shape)

      def loss_fn(p):
        logits = model.apply_batch(p, b_memory, b_mask, b_query, time_index, linear).logits
        loss = jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, b_answer))
        return loss, jnp.sum(jnp.argmax(logits, -1) != b_answer)

      (loss, errors), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
      grads = clip_per_matrix(grads, max_grad_norm)
      params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
      return model.zero_nil(params), (loss, errors)

    branches = [functools.partial(sized_step, size) for size in sizes]

    def step(params, inputs):
      index, bucket, key = inputs
      return jax.lax.switch(bucket, branches, params, index, key)

    keys = jax.random.split(shuffle_rngs[-1], batches.shape[0])
    params, (losses, errors) = jax.lax.scan(step, params, (batches, bucket_ids, keys))
    count = batches.shape[0] * batch_size
    return params, jnp.sum(losses) / count, jnp.sum(errors) / count

  vmapped = jax.vmap(seed_epoch, in_axes=(0, 0, None, None, None, None))

  @jax.jit
  def epoch(params, rng, order_rng, learning_rate, arrays: TrainArrays):
    order = jax.random.permutation(order_rng, bucket_of_batch.shape[0])
    bucket_ids = jnp.asarray(bucket_of_batch)[order]
    return vmapped(params, rng, order, bucket_ids, learning_rate, arrays)

  return epoch


def make_predict(model: BabiModel, linear: bool = False, vmap_seeds: bool = False) -> Callable:
  """Jitted `(params[num_seeds], memory, mask, query) -> [num_seeds, num_examples]` answers.

  `linear`: the model as trained during linear start (no softmax in the hops),
  so that validation during LS measures the model being trained. Inputs must
  be padded to a multiple of `_EVAL_CHUNK` questions; seeds and chunks run one
  after another (`lax.map`) to bound memory. `vmap_seeds` (seeds split over
  devices): each chunk runs for all seeds at once, so that every device
  predicts its own seeds (a `lax.map` over a split axis would gather them all).
  """

  def seed_predict(params, memory, memory_mask, query):
    def chunk(inputs):
      m, mm, q = inputs
      return jnp.argmax(model.apply_batch(params, m, mm, q, linear=linear).logits, -1)
    shape = lambda x: x.reshape((-1, _EVAL_CHUNK) + x.shape[1:])
    return jax.lax.map(chunk, (shape(memory), shape(memory_mask), shape(query))).reshape(-1)

  @jax.jit
  def predict(params, memory, memory_mask, query):
    if not vmap_seeds:
      return jax.lax.map(lambda p: seed_predict(p, memory, memory_mask, query), params)
    shape = lambda x: x.reshape((-1, _EVAL_CHUNK) + x.shape[1:])

    def chunk(inputs):
      m, mm, q = inputs
      seed_answers = lambda p: jnp.argmax(model.apply_batch(p, m, mm, q, linear=linear).logits,
                                          -1)
      return jax.vmap(seed_answers)(params)                        # [num_seeds, _EVAL_CHUNK]

    answers = jax.lax.map(chunk, (shape(memory), shape(memory_mask), shape(query)))
    return jnp.swapaxes(answers, 0, 1).reshape(answers.shape[1], -1)  # [num_seeds, n]

  return predict


def _pad(split: babi.EncodedSplit):
  n = split.num_examples
  padded = int(math.ceil(n / _EVAL_CHUNK)) * _EVAL_CHUNK
  pad = lambda x: np.concatenate([x, np.zeros((padded - n,) + x.shape[1:], x.dtype)])
  return pad(split.memory), pad(split.memory_mask), pad(split.query)


def task_error_pct(predict: Callable, params, split: babi.EncodedSplit,
                   tasks: Sequence[int], mesh) -> np.ndarray:
  """`[num_seeds, len(tasks)]` test error in percent of each seed on each task."""
  inputs = parallel.replicate(_pad(split), mesh)
  predictions = parallel.to_host(predict(params, *inputs))[:, :split.num_examples]
  wrong = predictions != split.answer[None, :]
  return np.stack([100.0 * wrong[:, split.task == t].mean(axis=1) for t in tasks], axis=1)


def _train_tasks(config: ml_collections.ConfigDict, tasks: List[int], workdir: pathlib.Path,
                 writer: metrics_lib.MetricWriter, tag: str, seed: int,
                 mesh) -> Dict[str, Any]:
  """Trains `num_seeds` models on `tasks` (one task = per-task run) and evaluates them.

  `mesh`: the seeds are split along its `data` axis (where they divide evenly).
  """
  data_cfg, train = config.data, config.train
  data = babi.load_babi(data_cfg.babi_dir, data_cfg.setting, tasks,
                        memory_size=int(data_cfg.memory_size),
                        validation_fraction=float(data_cfg.validation_fraction),
                        skip_missing=bool(data_cfg.skip_missing),
                        fit_memory_to_stories=bool(data_cfg.get("fit_memory_to_stories", False)))
  model = build_model(config.model, len(data.vocab), data.memory_size, data.sentence_length,
                      data.query_length)
  num_seeds = int(config.num_seeds)
  if num_seeds < 1:
    raise ConfigError(f"config.num_seeds={num_seeds} must be >= 1")
  batch_size = int(train.batch_size)
  if data.train.num_examples < batch_size:
    raise ConfigError(f"config.train.batch_size={batch_size} exceeds the "
                      f"{data.train.num_examples} training questions of tasks {data.tasks}")
  noise = float(train.random_noise)
  sizes = bucket_sizes(train.memory_buckets, data.memory_size)
  buckets = memory_buckets(data.train.memory_mask, sizes)
  epochs = {linear: make_train_epoch(model, batch_size, noise, float(train.max_grad_norm), linear,
                                     buckets, sizes, data.memory_size)
            for linear in (True, False)}
  seeds_split = mesh.size > 1 and num_seeds % mesh.size == 0
  predicts = {linear: make_predict(model, linear, vmap_seeds=seeds_split)
              for linear in (True, False)}
  seed_rngs = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
  init_rngs, train_rngs = jnp.split(jax.vmap(jax.random.split)(seed_rngs), 2, axis=1)
  state = TrainState(params=jax.vmap(model.init)(init_rngs[:, 0]), rng=train_rngs[:, 0],
                     epoch=jnp.zeros((), jnp.int32))
  state = TrainState(params=parallel.put_batch(jax.device_get(state.params), mesh),
                     rng=parallel.put_batch(jax.device_get(state.rng), mesh),
                     epoch=parallel.replicate(state.epoch, mesh))
  checkpointer = checkpoint_lib.Checkpointer(str(workdir / "checkpoints"),
                                             max_to_keep=int(train.keep_checkpoints))
  restored, restored_step = checkpointer.restore_latest(state, set_aside_unreadable=True)
  if restored is not None:
    state = TrainState(*restored) if not isinstance(restored, TrainState) else restored
    print(f"[{tag}] resumed from {checkpointer.step_path(restored_step)}", flush=True)
  train_arrays = parallel.replicate(featurize(data.train, len(data.vocab), config.model.encoding,
                                             model.config.pe_length), mesh)
  num_epochs = total_epochs(train)
  # train.stop_at_step (epochs here): stop early, e.g. to evaluate a time-limited run from
  # its checkpoint; it may change between resumes.
  stop_at = int(train.get("stop_at_step", 0) or 0)
  last_epoch = min(num_epochs, stop_at) if stop_at > 0 else num_epochs
  start = time.time()
  valid_error = None
  linear = learning_rate_at(max(int(state.epoch), last_epoch) - 1, train)[1]
  for epoch in range(int(state.epoch), last_epoch):
    learning_rate, linear = learning_rate_at(epoch, train)
    rngs = jax.vmap(jax.random.split)(state.rng)
    order_rng = parallel.replicate(jax.random.fold_in(jax.random.PRNGKey(seed), epoch), mesh)
    params, loss, error = epochs[linear](state.params, rngs[:, 0], order_rng, learning_rate,
                                         train_arrays)
    state = TrainState(params=params, rng=rngs[:, 1],
                       epoch=parallel.replicate(np.asarray(epoch + 1, np.int32), mesh))
    done = epoch + 1
    if done % int(train.eval_every) == 0 or done == last_epoch:
      valid_error = task_error_pct(predicts[linear], state.params, data.valid,
                                   data.tasks, mesh).mean(axis=1)
      loss, error = parallel.to_host((loss, error))
      if not np.all(np.isfinite(loss)):
        print(f"[{tag}] WARNING: non-finite training loss at epoch {done}: {loss}", flush=True)
      writer.write_scalars(done, {f"{tag}/train_loss": loss, f"{tag}/train_error_pct":
                                  100 * np.asarray(error), f"{tag}/valid_error_pct": valid_error,
                                  f"{tag}/learning_rate": learning_rate})
      print(f"[{tag}] epoch {done}/{num_epochs} lr {learning_rate:.5f}{' LS' if linear else ''} "
            f"| loss {np.mean(loss):.3f} | train err {100 * np.mean(error):.1f}% | valid err "
            f"best {valid_error.min():.1f}% mean {valid_error.mean():.1f}% | "
            f"{time.time() - start:.0f}s", flush=True)
    if int(train.checkpoint_every) and done % int(train.checkpoint_every) == 0:
      checkpointer.save(done, state)
  if checkpointer.latest_step() != int(state.epoch):
    checkpointer.save(int(state.epoch), state, force=True)
  checkpointer.close()
  return {
      "epochs_done": int(state.epoch),
      "tasks": data.tasks,
      "missing": data.missing,
      # A run stopped within linear start (train.stop_at_step) is scored as trained.
      "valid_error_pct": task_error_pct(predicts[linear], state.params, data.valid, data.tasks,
                                        mesh),
      "test_error_pct": task_error_pct(predicts[linear], state.params, data.test, data.tasks,
                                       mesh),
      "train_seconds": time.time() - start,
      "vocab_size": len(data.vocab),
  }


def summarize(test: np.ndarray, valid: np.ndarray, tasks: Sequence[int], joint: bool
              ) -> Dict[str, Any]:
  """Best seed by validation (one for a joint model, one per task otherwise) and mean +/- std.

  Args:
    test, valid: `[num_seeds, num_tasks]` error percentages.
    tasks: task numbers of the columns.
    joint: one model for all tasks (choose one seed by mean validation error).
  """
  if joint:
    best_seed = int(np.argmin(valid.mean(axis=1)))
    best = test[best_seed]
    best_seeds = [best_seed] * len(tasks)
  else:
    best_seeds = [int(s) for s in np.argmin(valid, axis=0)]
    best = test[best_seeds, np.arange(len(tasks))]
  per_seed_mean = test.mean(axis=1)
  per_seed_failed = (test > FAILED_TASK_ERROR_PCT).sum(axis=1)
  return {
      "best_seed": best_seeds,
      "best_test_error_pct": {str(t): float(e) for t, e in zip(tasks, best)},
      "best_mean_test_error_pct": float(best.mean()),
      "best_failed_tasks": int((best > FAILED_TASK_ERROR_PCT).sum()),
      "seed_mean_test_error_pct": per_seed_mean,
      "mean_test_error_pct_over_seeds": float(per_seed_mean.mean()),
      "std_test_error_pct_over_seeds": float(per_seed_mean.std()),
      "failed_tasks_per_seed": per_seed_failed,
      "test_error_pct_per_seed": {str(t): test[:, i] for i, t in enumerate(tasks)},
      "valid_error_pct_per_seed": {str(t): valid[:, i] for i, t in enumerate(tasks)},
  }


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Trains `config.model` on bAbI `config.data` (joint or per task); returns the results dict.

  Args:
    config: see `configs/babi_memn2n.py` for every field.
    workdir: results.json, log.txt, TensorBoard events and checkpoints go here;
      relaunching with the same workdir resumes.
    start_time: `time.time()` at process launch, so wall time includes start-up.
  """
  start_time = time.time() if start_time is None else start_time
  halvings(0, 1, config.train.get("decay_rule", "every"))  # a bad rule is named before any work
  mesh = parallel.config_mesh(config)
  if mesh.size > 1 and int(config.num_seeds) % mesh.size:
    print(f"num_seeds={config.num_seeds} does not split over the {mesh.size} devices: every "
          f"device trains every seed (use a multiple of {mesh.size} seeds to split them)",
          flush=True)
  is_chief = jax.process_index() == 0  # process 0 writes logs and results; all write checkpoints
  workdir_path = check_workdir(config, workdir)
  mode = config.data.mode
  if mode not in ("joint", "per_task"):
    raise ConfigError(f"config.data.mode={mode!r} is not 'joint' or 'per_task'")
  requested = [int(t) for t in config.data.tasks]
  bad = [t for t in requested if t not in babi.TASK_NAMES]
  if bad:
    raise ConfigError(f"config.data.tasks has {bad}, not bAbI tasks 1..20")
  missing = babi.find_missing_files(config.data.babi_dir, config.data.setting, requested)
  if missing and not config.data.skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(f)}" for t, f in missing.items())
    raise ConfigError(f"bAbI {config.data.setting} lacks {listed}; drop those tasks from "
                      "--config.data.tasks or set --config.data.skip_missing=True")
  for task, files in missing.items():
    print(f"bAbI {config.data.setting}: task {task} skipped, missing {', '.join(files)}",
          flush=True)
  tasks = [t for t in requested if t not in missing]
  writer = metrics_lib.MetricWriter(str(workdir_path), enabled=is_chief)
  if mode == "joint":
    run = _train_tasks(config, tasks, workdir_path, writer, "joint", int(config.seed), mesh)
    test, valid, train_seconds = run["test_error_pct"], run["valid_error_pct"], run["train_seconds"]
    epochs_done = run["epochs_done"]
  else:
    tests, valids, train_seconds, epochs_done = [], [], 0.0, None
    for task in tasks:
      run = _train_tasks(config, [task], workdir_path / f"task{task}", writer, f"task{task}",
                         int(config.seed) + task, mesh)
      tests.append(run["test_error_pct"][:, 0])
      valids.append(run["valid_error_pct"][:, 0])
      train_seconds += run["train_seconds"]
      epochs_done = min(run["epochs_done"], epochs_done or run["epochs_done"])
    test, valid = np.stack(tests, axis=1), np.stack(valids, axis=1)
  results = summarize(test, valid, tasks, joint=(mode == "joint"))
  results.update({
      "label": config.get("label", ""),
      "model": config.model.name,
      "setting": config.data.setting,
      "mode": mode,
      "num_hops": int(config.model.num_hops),
      "num_seeds": int(config.num_seeds),
      "epochs": total_epochs(config.train),
      "epochs_done": epochs_done,
      "tasks": tasks,
      "missing_tasks": {str(t): f for t, f in missing.items()},
      "train_seconds": train_seconds,
      "wall_seconds": time.time() - start_time,
      "machine": config.get("machine", ""),
      "data_parallel_devices": int(mesh.size),  # seeds split over them
  })
  results["results_path"] = metrics_lib.write_results(str(workdir_path), results,
                                                      enabled=is_chief)
  best, failed = results["best_mean_test_error_pct"], results["best_failed_tasks"]
  writer.log(f"best-of-{config.num_seeds} mean test error {best:.2f}% failed {failed}")
  writer.close()
  print(f"{results['label']} {mode} {config.data.setting}: best-of-{config.num_seeds} (by "
        f"validation) mean test error {best:.2f}%, failed tasks (>5%) {failed}; over seeds "
        f"{results['mean_test_error_pct_over_seeds']:.2f}"
        f" +/- {results['std_test_error_pct_over_seeds']:.2f}%; wall "
        f"{metrics_lib.format_duration(results['wall_seconds'])}", flush=True)
  return results
