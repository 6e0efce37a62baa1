"""Memory networks on bAbI (MemN2N, KV-MemNN): per-task or joint training of many seeds at
once, one loop step = one epoch.

    config.experiment = "babi_memnn"    # configs/babi_memn2n.py, configs/babi_kv_memnn.py

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

One epoch is one jitted `lax.scan` over its batches, `jax.vmap`-ed over seeds; with
several devices the seeds are split over them (a batch of 32 is too small to split).
Per-task mode (`data.mode = "per_task"`) runs one loop per task, each in
`<workdir>/task<N>/`, and summarises them in `<workdir>/results.json`.
"""
import functools
import pathlib
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax import parallel
from memjax.data import babi
from memjax.data.babi_scoring import summarize
from memjax.errors import (ConfigError, check_choice, check_float, check_int,
                                    config_value)
from memjax.models import memn2n
from memjax.models.babi_features import TrainArrays, bucket_sizes, featurize, memory_buckets
from memjax.models.memory_networks import (MemoryNetwork, build_memory_network, make_predict,
                                           task_error_pct)
from memjax.training import metrics as metrics_lib
from memjax.training.family import Family, TrainState, new_state, seed_keys
from memjax.training.workdir import check_workdir



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
  halved = halvings(main_epoch, int(train.decay_every), rule)
  return float(train.learning_rate) * 0.5 ** halved, False


def total_epochs(train: ml_collections.ConfigDict) -> int:
  return int(train.num_epochs) + (int(train.ls_epochs) if train.linear_start else 0)


def make_train_epoch(model: MemoryNetwork, batch_size: int, noise_fraction: float,
                     max_grad_norm: float, linear: bool, buckets: Sequence[np.ndarray],
                     sizes: Sequence[int], memory_size: int) -> Callable:
  """One epoch of every seed: `(params, rng, order_rng, lr, arrays) -> (params, loss, error)`.

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

  def epoch(params, rng, order_rng, learning_rate, arrays: TrainArrays):
    order = jax.random.permutation(order_rng, bucket_of_batch.shape[0])
    bucket_ids = jnp.asarray(bucket_of_batch)[order]
    return vmapped(params, rng, order, bucket_ids, learning_rate, arrays)

  return epoch


class BabiMemNNFamily(Family):
  """`num_seeds` memory networks on bAbI tasks `tasks` (all of `data.tasks` when joint)."""
  name = "babi_memnn"
  step_unit = "epoch"
  blocks = ("data", "model")
  uses_optimizer = False
  train_keys = ("num_epochs", "decay_every", "decay_rule", "linear_start", "ls_epochs",
                "ls_learning_rate", "ls_decay_every", "random_noise", "memory_buckets",
                "max_grad_norm")

  @classmethod
  def num_steps(cls, config):
    check_int(config, "train.num_epochs", 1)
    return total_epochs(config.train)

  @classmethod
  def check_config(cls, config):
    """Every key with a range, in one line naming it, before any file is read or anything
    compiles; also when the family is built directly rather than by the loop."""
    check_int(config, "seed", 0, 0)
    check_int(config, "num_seeds", 1, 1)
    check_choice(config, "data.mode", ("joint", "per_task"))
    check_choice(config, "data.setting", babi.SETTINGS)
    check_choice(config, "data.source", babi.SOURCES, "files")
    check_int(config, "data.memory_size", 1)
    babi.check_validation_fraction(config_value(config, "data.validation_fraction", 0.1))
    check_choice(config, "model.encoding", memn2n.ENCODINGS)
    if config_value(config, "model.name", "memn2n") == "memn2n":
      check_choice(config, "model.tying", memn2n.TYINGS, "adjacent")
    check_int(config, "model.embedding_dim", 1)
    check_int(config, "model.num_hops", 1)
    check_float(config, "model.init_std", above=0.0)
    check_int(config, "train.batch_size", 1)
    check_float(config, "train.learning_rate", above=0.0)
    check_choice(config, "train.decay_rule", ("authors", "every"), "every")
    check_int(config, "train.num_epochs", 1)
    check_int(config, "train.decay_every", 1)
    if config_value(config, "train.linear_start", False):
      check_int(config, "train.ls_epochs", 0)
      check_int(config, "train.ls_decay_every", 1)
      check_float(config, "train.ls_learning_rate", above=0.0)
    check_float(config, "train.random_noise", 0.0, minimum=0.0, below=1.0)
    check_float(config, "train.max_grad_norm", above=0.0)
    buckets = config_value(config, "train.memory_buckets", ())
    if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
               for b in tuple(buckets)):
      raise ConfigError(f"config.train.memory_buckets={tuple(buckets)} must be memory sizes "
                        ">= 1 (() for one bucket)")
    # The loop's intervals: a family built directly runs `loop.run` without the loop's checks.
    for key in ("log_every", "eval_every", "keep_checkpoints"):
      check_int(config, f"train.{key}", 1, 1)
    check_int(config, "train.checkpoint_every", 0, 0, note=" (0: only at the end)")
    check_int(config, "train.stop_at_step", 0, 0, note=" (0: off)")
    babi.requested_tasks(config.data)

  def __init__(self, config: ml_collections.ConfigDict, tasks: Optional[List[int]] = None,
               seed: Optional[int] = None):
    super().__init__(config)
    if seed is not None:
      self.seed = seed
    if tasks is None:
      tasks, _ = babi.requested_tasks(config.data)
    data_cfg, train = config.data, config.train
    self.data = babi.load_babi(data_cfg.babi_dir, data_cfg.setting, tasks,
                               memory_size=int(data_cfg.memory_size),
                               validation_fraction=float(data_cfg.validation_fraction),
                               skip_missing=bool(data_cfg.skip_missing),
                               fit_memory_to_stories=bool(data_cfg.get("fit_memory_to_stories",
                                                                       False)),
                               source=data_cfg.get("source", "files"),
                               tfds_data_dir=data_cfg.get("tfds_data_dir", ""))
    data = self.data
    self.model = build_memory_network(config.model, len(data.vocab), data.memory_size,
                                      data.sentence_length, data.query_length, self.name)
    batch_size = int(train.batch_size)
    if data.train.num_examples < batch_size:
      raise ConfigError(f"config.train.batch_size={batch_size} exceeds the "
                        f"{data.train.num_examples} training questions of tasks {data.tasks}")
    sizes = bucket_sizes(train.memory_buckets, data.memory_size)
    buckets = memory_buckets(data.train.memory_mask, sizes)
    self._epochs = {linear: make_train_epoch(self.model, batch_size, float(train.random_noise),
                                             float(train.max_grad_norm), linear, buckets, sizes,
                                             data.memory_size)
                    for linear in (True, False)}
    self.seeds_split = self.mesh.size > 1 and self.num_seeds % self.mesh.size == 0
    if self.mesh.size > 1 and not self.seeds_split:
      print(f"num_seeds={self.num_seeds} does not split over the {self.mesh.size} devices: "
            f"every device trains every seed (use a multiple of {self.mesh.size} seeds to "
            "split them)", flush=True)
    self._predicts = {linear: make_predict(self.model, linear, vmap_seeds=self.seeds_split)
                      for linear in (True, False)}
    self.train_arrays = parallel.replicate(featurize(data.train, len(data.vocab),
                                                     config.model.encoding,
                                                     self.model.config.pe_length), self.mesh)
    self._cache_key += f"|tasks={list(data.tasks)}|seed={self.seed}"

  def init_state(self) -> TrainState:
    seed_rngs = seed_keys(self.seed, self.num_seeds)
    init_rngs, train_rngs = jnp.split(jax.vmap(jax.random.split)(seed_rngs), 2, axis=1)
    state = new_state(jax.vmap(self.model.init)(init_rngs[:, 0]), (), (), train_rngs[:, 0])
    # The seeds (leading axis) split over the devices where they divide evenly.
    return state._replace(step=parallel.replicate(state.step, self.mesh),
                          **{field: parallel.put_batch(jax.device_get(getattr(state, field)),
                                                       self.mesh)
                             for field in ("params", "rng", "nonfinite_streak",
                                           "nonfinite_total")})

  def batch(self, epoch: int):
    """The epoch's learning rate and linear-start flag, and the key that orders its batches."""
    learning_rate, linear = learning_rate_at(epoch, self.config.train)
    order_rng = jax.random.fold_in(jax.random.PRNGKey(self.seed), epoch)
    return parallel.replicate((order_rng, np.float32(learning_rate), np.bool_(linear),
                               self.train_arrays), self.mesh)

  def train_step(self, state, batch):
    order_rng, learning_rate, linear, arrays = batch
    rngs = jax.vmap(jax.random.split)(state.rng)
    params, loss, error = jax.lax.cond(
        linear, self._epochs[True], self._epochs[False],
        state.params, rngs[:, 0], order_rng, learning_rate, arrays)
    metrics = {"loss": loss, "train_error_pct": 100 * error,
               "learning_rate": jnp.broadcast_to(learning_rate, loss.shape),
               "linear_start": jnp.broadcast_to(linear, loss.shape)}
    return state._replace(params=params, rng=rngs[:, 1]), metrics

  def log_line(self, metrics):
    linear = " LS" if np.any(metrics["linear_start"]) else ""
    return (f"lr {float(np.max(metrics['learning_rate'])):.5f}{linear} | loss "
            f"{float(np.mean(metrics['loss'])):.3f} | train err "
            f"{float(np.mean(metrics['train_error_pct'])):.1f}%")

  def _linear(self, epoch: int) -> bool:
    """The model as trained in the last epoch done (a run stopped within LS is scored as such)."""
    return learning_rate_at(max(epoch, 1) - 1, self.config.train)[1]

  def errors(self, state, split: babi.EncodedSplit, epoch: int) -> np.ndarray:
    """`[num_seeds, num_tasks]` error (%) on `split`."""
    return task_error_pct(self._predicts[self._linear(epoch)], state.params, split,
                          self.data.tasks, self.mesh)

  def evaluate(self, state, step, final):
    valid = self.errors(state, self.data.valid, step)
    evaluation = {"valid_error_pct": valid.mean(axis=1).tolist()}
    if final:
      evaluation["valid_error_pct_per_task"] = valid.tolist()
      evaluation["test_error_pct_per_task"] = self.errors(state, self.data.test, step).tolist()
    return evaluation

  def headline(self, evaluation):
    valid = np.asarray(evaluation["valid_error_pct"])
    line = f"valid error best {valid.min():.1f}% mean {valid.mean():.1f}%"
    if "test_error_pct_per_task" in evaluation:
      summary_ = summarize(np.asarray(evaluation["test_error_pct_per_task"]),
                           np.asarray(evaluation["valid_error_pct_per_task"]), self.data.tasks,
                           joint=True)
      line += (f" | test error of the best seed by validation "
               f"{summary_['best_mean_test_error_pct']:.2f}%, failed tasks (>5%) "
               f"{summary_['best_failed_tasks']}")
    return line

  def results(self, state, final):
    test = np.asarray(final["test_error_pct_per_task"])
    valid = np.asarray(final["valid_error_pct_per_task"])
    return {**_describe(self.config), **summarize(test, valid, self.data.tasks, joint=True),
            "tasks": self.data.tasks, "missing_tasks": {str(t): f for t, f in
                                                        self.data.missing.items()},
            "epochs_done": int(state.step), "vocab_size": len(self.data.vocab)}

  @classmethod
  def train_and_evaluate(cls, config: ml_collections.ConfigDict, workdir: str,
                         start_time: Optional[float] = None) -> Dict[str, Any]:
    """Joint mode: the one loop over all tasks. Per-task mode: one loop per task (seed
    `seed + task`), each in `<workdir>/task<N>/`, then the summary of them all."""
    from memjax.training import loop  # the loop imports the families' registry
    start_time = time.time() if start_time is None else start_time
    tasks, missing = babi.requested_tasks(config.data)
    for task, files in missing.items():
      print(f"bAbI {config.data.setting}: task {task} skipped, missing {', '.join(files)}",
            flush=True)
    workdir_path = check_workdir(config, workdir, cls.resumable)
    if config.data.mode == "joint":
      return loop.run(cls(config, tasks), workdir_path, start_time, tag="joint")
    tests, valids, epochs_done = [], [], []
    for task in tasks:
      run = loop.run(cls(config, [task], seed=int(config.seed) + task),
                     pathlib.Path(workdir_path) / f"task{task}", start_time, tag=f"task{task}")
      tests.append(np.asarray(run["final"]["test_error_pct_per_task"])[:, 0])
      valids.append(np.asarray(run["final"]["valid_error_pct_per_task"])[:, 0])
      epochs_done.append(run["steps"])
    results = {"experiment": cls.name, **_describe(config),
               **summarize(np.stack(tests, axis=1), np.stack(valids, axis=1), tasks, joint=False),
               "tasks": tasks, "missing_tasks": {str(t): f for t, f in missing.items()},
               "epochs_done": min(epochs_done), "step_unit": cls.step_unit,
               "wall_seconds": time.time() - start_time,
               "runs": [f"task{task}/results.json" for task in tasks]}
    results.update(steps=min(epochs_done), stop_reason="every task's run ended", headline=(
        f"per-task best-of-{config.num_seeds} (by validation) mean test error "
        f"{results['best_mean_test_error_pct']:.2f}%, failed tasks (>5%) "
        f"{results['best_failed_tasks']}"))
    results = metrics_lib.to_python(results)
    results["results_path"] = metrics_lib.write_results(str(workdir_path), results,
                                                        enabled=jax.process_index() == 0)
    return results


def _describe(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  return {"label": config.get("label", ""), "model": config.model.name,
          "setting": config.data.setting, "mode": config.data.mode,
          "num_hops": int(config.model.num_hops), "epochs": total_epochs(config.train),
          "machine": config.get("machine", "")}

