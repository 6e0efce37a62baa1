"""bAbI for recurrent memory cores, word by word, as in the DNC paper (Graves et al. 2016).

    config.experiment = "babi_recurrent"       # configs/babi_dnc.py

Each story is one sequence of one-hot words (`memjax.data.babi.story_words`):
statements end with ".", questions with "?", and each answer word is an
answer step whose input is "-"; the core (`model.name` = dnc | ntm | lstm |
any registered core) must emit the answer word there. The softmax
cross-entropy is averaged over answer steps only (the mask); every other step
has weight zero. Joint training on all requested tasks at once.

Sequences are padded to the smallest of `train.length_buckets` that holds
them (a bucket is added for the longest story if none does), and every batch
comes from one bucket, so the jitted step compiles once per bucket, never
per story. A question counts as wrong if any of its answer words is wrong; the
report is per-task test error, mean error and failed tasks (> 5%), with the
seed chosen by mean validation error (`memjax.data.babi_scoring.summarize`).
`num_seeds = K` trains K models in one program (`jax.vmap` over parameters,
optimizer states and batches; each seed draws its own stories).
"""
import functools
from typing import Any, Dict, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax import parallel
from memjax.cores import dynamic_unroll
from memjax.cores.base import init_core
from memjax.data import babi
from memjax.data.babi_scoring import FAILED_TASK_ERROR_PCT, question_errors, summarize
from memjax.errors import ConfigError, check_choice, check_float, check_int, config_value
from memjax.models import registry as model_registry
from memjax.training import optim
from memjax.training.family import (Family, init_seeds, new_state, optimizer_step, over_seeds,
                                    seed_keys, summary)

_DATA_FIELDS = {"babi_dir", "setting", "tasks", "skip_missing", "validation_fraction",
                "max_train_length", "source", "tfds_data_dir"}
# Sizes and counts of the cores' `model` blocks that must be >= 1 wherever a core has them.
_MODEL_SIZES = ("hidden_size", "controller_size", "memory_size", "word_size", "num_read_heads",
                "num_write_heads")
DNC_PAPER = {"mean_error_pct": 16.7, "mean_error_std_pct": 7.6, "best_error_pct": 3.8,
             "mean_failed_tasks": 11.2, "best_failed_tasks": 2,
             "note": "DNC, joint en-10k, 20 runs (Graves et al. 2016, Table 1)"}


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


class BabiRecurrentFamily(Family):
  """A registered core over one-hot words, on bAbI stories, jointly over the tasks."""
  name = "babi_recurrent"
  blocks = ("data", "model")
  train_keys = ("eval_batch_size", "length_buckets", "scan_unroll", "remat")
  resumable = ("train.eval_batch_size",)
  # Batch shapes retrace by themselves; the rest is read on the host only.
  host_only = resumable + ("train.length_buckets", "train.batch_size", "seed", "data")

  @classmethod
  def check_config(cls, config):
    unknown = sorted(set(config.data.keys()) - _DATA_FIELDS)
    if unknown:
      raise ConfigError(f"config.data.{unknown[0]} is not a field of experiment "
                        f"{cls.name!r}; data has {sorted(_DATA_FIELDS)}")
    check_int(config, "seed", 0, 0)
    check_int(config, "num_seeds", 1, 1)
    check_choice(config, "data.setting", babi.SETTINGS)
    check_choice(config, "data.source", babi.SOURCES, "files")
    babi.requested_tasks(config.data, files=False)  # the files: when the data is read
    babi.check_validation_fraction(config_value(config, "data.validation_fraction", 0.1))
    check_int(config, "data.max_train_length", 0, 0, note=" (0: keep every story)")
    num_steps = check_int(config, "train.num_steps", 1)
    check_int(config, "train.batch_size", 1)
    check_float(config, "train.learning_rate", above=0.0)
    optim.check_config(config, num_steps)
    check_int(config, "train.eval_batch_size", 1, 64)
    check_int(config, "train.scan_unroll", 1, 1)
    # The loop's intervals: a family built directly runs `loop.run` without the loop's checks.
    for key in ("log_every", "eval_every", "keep_checkpoints"):
      check_int(config, f"train.{key}", 1, 1)
    check_int(config, "train.checkpoint_every", 0, 0, note=" (0: only at the end)")
    check_int(config, "train.stop_at_step", 0, 0, note=" (0: off)")
    buckets = [int(b) for b in config.train.length_buckets]
    if any(b < 1 for b in buckets) or buckets != sorted(set(buckets)):
      raise ConfigError(f"config.train.length_buckets={tuple(config.train.length_buckets)} must "
                        "be increasing positive lengths")
    # The core's fields and sizes, before any data is read. Sizes first: a core may divide by
    # them while it initialises (the LSTM's hidden_size=0).
    model_registry.resolve(config.model, cls.name, ("core",))
    for key in _MODEL_SIZES:
      if key in config.model:
        check_int(config, f"model.{key}", 1)
    core = model_registry.build_core(config.model, 8)
    try:
      jax.eval_shape(lambda rng: init_core(core, rng, (1, 8)), jax.random.PRNGKey(0))
    except ValueError as error:
      raise ConfigError(str(error)) from None

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    data_cfg, train = config.data, config.train
    _, missing = babi.requested_tasks(data_cfg)
    for task, files in missing.items():
      print(f"bAbI {data_cfg.setting}: task {task} skipped, missing {', '.join(files)}",
            flush=True)
    self.data = babi.load_babi_stories(data_cfg.babi_dir, data_cfg.setting,
                                       [int(t) for t in data_cfg.tasks],
                                       validation_fraction=float(data_cfg.validation_fraction),
                                       skip_missing=bool(data_cfg.skip_missing),
                                       source=data_cfg.get("source", "files"),
                                       tfds_data_dir=data_cfg.get("tfds_data_dir", ""))
    data = self.data
    self.tasks = data.tasks
    max_train_length = int(data_cfg.max_train_length)
    self.train_stories = data.train
    if max_train_length:
      self.train_stories = [s for s in data.train if babi.story_length(s) <= max_train_length]
      print(f"data.max_train_length={max_train_length}: training on {len(self.train_stories)} "
            f"of {len(data.train)} stories", flush=True)
    if not self.train_stories:
      raise ConfigError(f"no training story is at most config.data.max_train_length="
                        f"{max_train_length} words long")
    length_buckets = [int(b) for b in train.length_buckets]
    self.train_buckets = babi.make_buckets(self.train_stories, data.vocab, length_buckets)
    self.valid_buckets = babi.make_buckets(data.valid, data.vocab, length_buckets)
    self.test_buckets = babi.make_buckets(data.test, data.vocab, length_buckets)
    sizes = np.asarray([b.stories.num_stories for b in self.train_buckets], np.float64)
    self.bucket_probabilities = sizes / sizes.sum()
    print(f"bAbI {data.setting} tasks {self.tasks}: {len(self.train_stories)} train / "
          f"{len(data.valid)} valid / {len(data.test)} test stories, vocabulary "
          f"{len(data.vocab)}, train buckets "
          + ", ".join(f"{b.length}:{b.stories.num_stories}" for b in self.train_buckets),
          flush=True)
    self.vocab_size = len(data.vocab)
    self.core = model_registry.build_core(config.model, self.vocab_size)
    self.optimizer = optim.make_optimizer(train)
    # Data parallel: each step's stories split along the mesh's `data` axis (every seed's
    # batch alike), parameters replicated, gradients all-reduced.
    self.batch_size = int(train.batch_size)
    parallel.check_batch_size(self.batch_size, self.mesh)
    self.eval_batch_size = int(train.get("eval_batch_size", 64))
    self.unroll = int(train.get("scan_unroll", 1))
    self.remat = bool(train.get("remat", False))
    self._cache_key += f"|vocab={self.vocab_size}"

  # -- model ----------------------------------------------------------------------------------
  def _init_params(self, rng):
    return init_core(self.core, rng, (1, self.vocab_size))["params"]

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

  def init_state(self):
    rngs = seed_keys(self.seed, self.num_seeds)
    params, opt_state = init_seeds(self._init_params, self.optimizer, rngs)
    return parallel.replicate(new_state(params, opt_state, (), rngs), self.mesh)

  # -- training -------------------------------------------------------------------------------
  def batch(self, step):
    """Every seed's stories for `step`: one bucket (drawn by its share of stories), each seed
    its own stories; `[num_seeds, batch, time]` arrays split along the batch axis."""
    rng = np.random.default_rng([self.seed, step])
    bucket = self.train_buckets[rng.choice(len(self.train_buckets),
                                           p=self.bucket_probabilities)]
    index = rng.integers(0, bucket.stories.num_stories, (self.num_seeds, self.batch_size))
    s = bucket.stories
    return parallel.put_batch((s.inputs[index], s.targets[index], s.mask[index]), self.mesh,
                              axis=1)

  def _seed_step(self, params, opt_state, inputs, targets, mask):
    def loss_fn(p):
      logits = self.logits(p, inputs)
      return masked_softmax_cross_entropy(logits, targets, mask), logits

    params, opt_state, logits, metrics = optimizer_step(self.optimizer, loss_fn, params,
                                                        opt_state)
    right = (jnp.argmax(logits, -1) == targets) & mask
    metrics["answer_step_accuracy"] = jnp.sum(right) / jnp.maximum(jnp.sum(mask), 1)
    return params, opt_state, metrics

  def train_step(self, state, batch):
    params, opt_state, metrics = over_seeds(self._seed_step, self.num_seeds, (0, 0, 0, 0, 0),
                                            state.params, state.opt_state, *batch)
    return state._replace(params=params, opt_state=opt_state), metrics

  def log_line(self, metrics):
    return (f"loss {float(np.mean(metrics['loss'])):.4f} | answer steps right "
            f"{float(np.mean(metrics['answer_step_accuracy'])):.3f}")

  # -- evaluation -----------------------------------------------------------------------------
  @functools.partial(jax.jit, static_argnums=0)
  def predict(self, params, inputs):
    """`[num_seeds, batch, time]` argmax word ids of every seed on `[batch, time]` inputs."""
    return jax.lax.map(lambda p: jnp.argmax(self.logits(p, inputs), -1).astype(jnp.int32),
                       params)

  def split_errors(self, params, buckets: Sequence[babi.Bucket]) -> np.ndarray:
    """`[num_seeds, len(tasks)]` question error (%) on one split, fixed-size chunks per bucket."""
    pairs = []
    for bucket in buckets:
      s = bucket.stories
      chunks = []
      for start in range(0, s.num_stories, self.eval_batch_size):
        chunk = s.inputs[start:start + self.eval_batch_size]
        padded = np.zeros((self.eval_batch_size, bucket.length), np.int32)
        padded[:len(chunk)] = chunk
        predicted = self.predict(params, parallel.put_batch(padded, self.mesh))
        chunks.append(parallel.to_host(predicted)[:, :len(chunk)])
      pairs.append((bucket, np.concatenate(chunks, axis=1)))
    return question_errors(pairs, self.tasks)

  def _per_task(self, errors: np.ndarray) -> Dict[str, Any]:
    return {str(t): errors[:, i].tolist() for i, t in enumerate(self.tasks)}

  def evaluate(self, state, step, final):
    # Every task holds out validation stories (config.data.validation_fraction is in (0, 1)).
    valid = self.split_errors(state.params, self.valid_buckets)
    evaluation = {"valid_mean_error_pct": valid.mean(axis=1).tolist(),
                  "valid_error_pct": self._per_task(valid)}
    if final:
      evaluation["test_error_pct"] = self._per_task(self.split_errors(state.params,
                                                                      self.test_buckets))
    return evaluation

  def _summary(self, evaluation) -> Dict[str, Any]:
    columns = lambda table: np.stack([np.asarray(table[str(t)]) for t in self.tasks], axis=1)
    return summarize(columns(evaluation["test_error_pct"]), columns(evaluation["valid_error_pct"]),
                     self.tasks, joint=True)

  def headline(self, evaluation):
    if "test_error_pct" in evaluation:
      result = self._summary(evaluation)
      return (f"mean test error {result['best_mean_test_error_pct']:.2f}%, failed tasks "
              f"(>{FAILED_TASK_ERROR_PCT:g}%) {result['best_failed_tasks']} of {len(self.tasks)}"
              + (f" (best of {self.num_seeds} by validation)" if self.num_seeds > 1 else "")
              + "; per task " + " ".join(f"{t}:{e:.1f}" for t, e in
                                         result["best_test_error_pct"].items()))
    valid = evaluation["valid_error_pct"]
    return (f"valid mean error {summary(evaluation['valid_mean_error_pct'])}%; per task "
            + " ".join(f"{t}:{min(valid[str(t)]):.0f}" for t in self.tasks))

  def results(self, state, final):
    data = self.data
    return {"label": str(self.config.get("label", self.config.model.name)),
            "model": self.config.model.name, "setting": data.setting, "tasks": self.tasks,
            "missing": data.missing, "vocab_size": self.vocab_size,
            "num_stories": {"train": len(self.train_stories), "valid": len(data.valid),
                            "test": len(data.test)},
            "train_buckets": {str(b.length): b.stories.num_stories for b in self.train_buckets},
            "failed_task_threshold_pct": FAILED_TASK_ERROR_PCT, **self._summary(final),
            "dnc_paper": DNC_PAPER, "machine": str(self.config.get("machine", ""))}
