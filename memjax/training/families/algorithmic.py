"""Algorithmic tasks (copy, repeat copy, associative recall, priority sort) for any registered
core: the NTM, the DNC, LSTM/GRU baselines, or a user's (`memjax.cores.register_core`).

    config.experiment = "algorithmic"      # configs/copy_ntm.py lists every field

Each step samples its own batch inside the jitted step (data is a pure function of
`(seed, step)` through `fold_in(rng, step)`), runs the core over it with
`memjax.cores.dynamic_unroll`, and minimises a masked sigmoid cross-entropy.
`train.target_error >= 0` stops the run once the error on
`train.eval_batch_size` fresh sequences is below it (every seed, or the first,
by `train.stop_when`); a training batch under the target triggers that
evaluation early (at most once per `train.screen_every` steps). At the end,
`eval.lengths` gives a generalisation table, optionally with a larger memory
(`eval.memory_size`: the NTM's and DNC's parameters do not depend on it).
"""
import copy
import functools
from typing import Any, Dict, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax import parallel
from memjax.cores import check_core, dynamic_unroll
from memjax.cores.base import init_core
from memjax.errors import ConfigError, check_choice, check_float, check_int, config_value
from memjax.models import registry as model_registry
from memjax.tasks import AlgorithmicTask, SequenceBatch, bits_error_per_sequence, build_task
from memjax.training import optim
from memjax.training.family import (Family, TrainState, init_seeds, new_state, optimizer_step,
                                    over_seeds, seed_keys, summary)

_INIT_STREAM = 0x1417  # folds the parameter keys apart from the batch keys


def masked_sigmoid_cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array):
  """Mean binary cross-entropy over the masked (batch, time) steps and output bits."""
  per_bit = optax.sigmoid_binary_cross_entropy(logits, targets)
  per_step = jnp.sum(per_bit, axis=-1) * mask
  return jnp.sum(per_step) / (jnp.maximum(jnp.sum(mask), 1.0) * logits.shape[-1])


class AlgorithmicFamily(Family):
  """A core on an algorithmic task; K seeds (`num_seeds`) train in one program."""
  name = "algorithmic"
  blocks = ("task", "model", "eval")
  train_keys = ("eval_batch_size", "target_error", "stop_when", "screen_every",
                "curriculum_steps")
  resumable = ("train.target_error", "train.stop_when", "train.eval_batch_size",
               "train.screen_every")
  host_only = resumable + ("seed",)

  @classmethod
  def check_config(cls, config):
    check_choice(config, "train.stop_when", ("all", "any"), "all")
    check_float(config, "train.target_error", -1.0)
    check_int(config, "train.eval_batch_size", 1, 1000)
    check_int(config, "train.screen_every", 1, 25)
    check_int(config, "train.curriculum_steps", 0, 0)
    check_int(config, "eval.num_sequences", 1, 100)
    check_int(config, "eval.memory_size", 0, 0)
    lengths = tuple(config_value(config, "eval.lengths", ()) or ())
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in lengths):
      raise ConfigError(f"config.eval.lengths={lengths!r} must be sequence lengths >= 1")
    # The task's widths; its lengths and repeats are checked by the task itself (`__init__`).
    for key in ("num_bits", "item_length", "num_outputs"):
      if config_value(config, f"task.{key}", None) is not None:
        check_int(config, f"task.{key}", 1)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    task_fields = dict(config.task)
    try:
      self.task: AlgorithmicTask = build_task(task_fields.pop("name"), **task_fields)
    except (TypeError, ValueError) as error:  # the task names the field and its range
      raise ConfigError(str(error)) from None
    task = self.task
    if not task.min_allowed_length <= task.min_length <= task.max_length:
      raise ConfigError(f"config.task.min_length={task.min_length}, task.max_length="
                        f"{task.max_length}: {task.name} needs {task.min_allowed_length} <= "
                        f"task.min_length ({task.min_length}) <= task.max_length "
                        f"({task.max_length})")
    model_registry.resolve(config.model, self.name, ("core",))
    self.core = model_registry.build_core(config.model, self.task.output_size)
    self.optimizer = optim.make_optimizer(config.train)
    self.batch_size = int(config.train.batch_size)
    parallel.check_batch_size(self.batch_size, self.mesh)
    train = config.train
    self.target_error = float(train.get("target_error", -1.0))
    self.stop_when = str(train.get("stop_when", "all"))
    self.eval_size = int(train.get("eval_batch_size", 1000))
    self.screen_every = int(train.get("screen_every", 25))
    self.curriculum_steps = int(train.get("curriculum_steps", 0) or 0)
    self.eval_rng = jax.random.PRNGKey(self.seed + 10_000)
    # The model's sizes and the core contract, checked now with a clear message rather than
    # inside jit (or not at all: a [batch, 1] output would broadcast against the targets).
    jax.eval_shape(self._init_params, jax.random.PRNGKey(0))
    try:
      check_core(self.core, (self.batch_size, self.task.input_size), self.task.output_size)
    except ValueError as error:
      if not str(error).startswith("core "):
        raise
      raise ConfigError(f"model.name={config.model.name!r}: {error}") from None
    # What the loop record keeps: when each seed reached the target, the last screening.
    self.solved_at_step = np.full((self.num_seeds,), -1)
    self.solved_at_seconds = np.full((self.num_seeds,), -1.0)
    self.last_screen_step = -10**9
    self._last_evaluation = None

  # -- model ----------------------------------------------------------------------------------
  def _init_params(self, rng: jax.Array):
    return init_core(self.core, rng, (1, self.task.input_size))["params"]

  def logits(self, params, batch: SequenceBatch, carry_rng: jax.Array, return_carries=False):
    """Runs the core over a batch: `[batch, time, output_size]` logits (and carries)."""
    variables = {"params": params}
    carry = self.core.apply(variables, carry_rng, batch.inputs[:, 0].shape,
                            method=self.core.initialize_carry)
    step_fn = functools.partial(self.core.apply, variables)
    result = dynamic_unroll(step_fn, batch.inputs, carry, return_carries=return_carries)
    return result if return_carries else result[0]

  def init_state(self) -> TrainState:
    seed_rngs = seed_keys(self.seed, self.num_seeds)
    init_rngs = jax.vmap(lambda r: jax.random.fold_in(r, _INIT_STREAM))(seed_rngs)
    params, opt_state = init_seeds(self._init_params, self.optimizer, init_rngs)
    return parallel.replicate(new_state(params, opt_state, (), seed_rngs), self.mesh)

  # -- training -------------------------------------------------------------------------------
  def _training_batch(self, rng, step) -> SequenceBatch:
    """A training batch; with `train.curriculum_steps > 0` the longest length
    grows linearly from `task.min_length` to `task.max_length` over that many
    steps (inside the same padded shape, so nothing recompiles)."""
    if not self.curriculum_steps:
      return self.task.sample(rng, self.batch_size)
    low, high = self.task.min_length, self.task.max_length
    fraction = jnp.minimum(1.0, (step + 1) / self.curriculum_steps)
    current_max = jnp.ceil(low + (high - low) * fraction).astype(jnp.int32)
    length_rng, content_rng = jax.random.split(rng)
    lengths = jax.random.randint(length_rng, (self.batch_size,), low, current_max + 1)
    return self.task.build(content_rng, lengths, high)

  def _seed_step(self, params, opt_state, rng, step):
    data_rng, carry_rng = jax.random.split(jax.random.fold_in(rng, step))
    batch = parallel.shard_batch(self._training_batch(data_rng, step), self.mesh)

    def loss_fn(p):
      logits = self.logits(p, batch, carry_rng)
      return masked_sigmoid_cross_entropy(logits, batch.targets, batch.mask), logits

    params, opt_state, logits, metrics = optimizer_step(self.optimizer, loss_fn, params,
                                                        opt_state)
    metrics["bits_error"] = jnp.mean(bits_error_per_sequence(logits, batch.targets, batch.mask))
    return params, opt_state, metrics

  def train_step(self, state: TrainState, batch):
    params, opt_state, metrics = over_seeds(self._seed_step, self.num_seeds, (0, 0, 0, None),
                                            state.params, state.opt_state, state.rng, state.step)
    return state._replace(params=params, opt_state=opt_state), metrics

  def log_line(self, metrics):
    return f"loss {summary(metrics['loss'])} | train bits/seq {summary(metrics['bits_error'])}"

  # -- evaluation -----------------------------------------------------------------------------
  @functools.partial(jax.jit, static_argnums=(0, 4))
  def evaluate_lengths(self, params, rng, lengths, pad_length):
    """Mean bits error per sequence for each seed on sequences of the given `lengths` `[n]`."""

    def seed_eval(seed_params, seed_rng):
      data_rng, carry_rng = jax.random.split(seed_rng)
      batch = parallel.shard_batch(self.task.build(data_rng, lengths, pad_length), self.mesh)
      logits = self.logits(seed_params, batch, carry_rng)
      return jnp.mean(bits_error_per_sequence(logits, batch.targets, batch.mask))

    seed_rngs = jax.random.split(rng, self.num_seeds)
    return over_seeds(seed_eval, self.num_seeds, (0, 0), params, seed_rngs)

  def warm_up(self, state: TrainState) -> None:
    """Compiles `bits_error`'s programs (the random lengths and `evaluate_lengths`)."""
    eval_rng, lengths = self._random_lengths(jax.random.fold_in(self.eval_rng, 0),
                                             self.eval_size)
    AlgorithmicFamily.evaluate_lengths.lower(self, state.params, eval_rng, lengths,
                                             self.task.max_length).compile()

  def _random_lengths(self, rng, num_sequences: int):
    """(rng for the sequences, `[num_sequences]` lengths drawn from the training range)."""
    length_rng, eval_rng = jax.random.split(rng)
    return eval_rng, jax.random.randint(length_rng, (num_sequences,), self.task.min_length,
                                        self.task.max_length + 1)

  def bits_error(self, params, rng, num_sequences: int) -> np.ndarray:
    """Bits error per sequence on `num_sequences` fresh sequences of the training length range."""
    eval_rng, lengths = self._random_lengths(rng, num_sequences)
    return np.asarray(self.evaluate_lengths(params, eval_rng, lengths, self.task.max_length))

  def generalization(self, params, rng, eval_lengths: Sequence[int], num_sequences: int,
                     memory_size: int = 0) -> Dict[int, np.ndarray]:
    """{length: per-seed bits error} at each length, all through one compiled pad length.

    `memory_size > 0` evaluates with that many memory slots: the NTM's (and
    DNC's) parameters do not depend on N when memory is not learned, so a
    model trained with 64 slots can be tested on sequences longer than 64.
    """
    family = self
    if memory_size:
      if not hasattr(self.core, "memory_size"):
        raise ConfigError(f"eval.memory_size={memory_size} but core {self.config.model.name!r} "
                          "has no memory_size")
      if getattr(self.core, "memory_init", "constant") == "learned":
        raise ConfigError("eval.memory_size needs model.memory_init != 'learned' "
                          "(a learned memory has a fixed size)")
      family = copy.copy(self)
      family.core = self.core.clone(memory_size=memory_size)
      family._cache_key = f"{self._cache_key}|eval.memory_size={memory_size}"
    pad_length = max(eval_lengths)
    return {int(length): np.asarray(family.evaluate_lengths(
        params, jax.random.fold_in(rng, length), jnp.full((num_sequences,), length, jnp.int32),
        pad_length)) for length in eval_lengths}

  def evaluate(self, state: TrainState, step: int, final: bool) -> Dict[str, Any]:
    if self._last_evaluation is not None and self._last_evaluation[0] == step:
      errors = self._last_evaluation[1]  # evaluated at this step already (e.g. target reached)
    else:
      errors = self.bits_error(state.params, jax.random.fold_in(self.eval_rng, step),
                               self.eval_size)
      self._last_evaluation = (step, errors)
    evaluation = {"bits_error": per_seed_list(errors)}
    eval_config = self.config.get("eval", ml_collections.ConfigDict())
    lengths = tuple(eval_config.get("lengths", ()))
    if final and lengths:
      table = self.generalization(state.params, jax.random.fold_in(self.eval_rng, 2**31 - 1),
                                  lengths, int(eval_config.get("num_sequences", 100)),
                                  int(eval_config.get("memory_size", 0)))
      evaluation["generalization"] = {str(k): per_seed_list(v) for k, v in table.items()}
    return evaluation

  def headline(self, evaluation):
    return (f"bits error/seq on {self.eval_size} fresh sequences: "
            f"{summary(evaluation['bits_error'])}")

  def _stop_test(self, solved: np.ndarray) -> bool:
    return bool(np.all(solved) if self.stop_when == "all" else np.any(solved))

  def _target_reason(self) -> str:
    return f"target error {self.target_error} reached" + (
        f" ({self.stop_when} seeds)" if self.num_seeds > 1 else "")

  def evaluate_now(self, step, metrics):
    """A full evaluation as soon as a training batch looks solved (cheap screening)."""
    if self.target_error < 0 or step - self.last_screen_step < self.screen_every:
      return False
    batch_error = np.asarray(metrics["bits_error"])
    if np.any((batch_error <= self.target_error) & (self.solved_at_step < 0)):
      self.last_screen_step = step
      return True
    return False

  def after_evaluation(self, step, evaluation, seconds):
    errors = np.asarray(evaluation["bits_error"])
    newly = (errors <= self.target_error) & (self.solved_at_step < 0)
    self.solved_at_step[newly] = step
    self.solved_at_seconds[newly] = seconds
    return self.stop_reason_at_start()

  def stop_reason_at_start(self):
    # Relaunched after it stopped at the target (its last checkpoint): train no further.
    if self.target_error >= 0 and self._stop_test(self.solved_at_step >= 0):
      return self._target_reason()
    return None

  def record(self):
    return {"solved_at_step": self.solved_at_step, "solved_at_seconds": self.solved_at_seconds,
            "last_screen_step": self.last_screen_step}

  def restore_record(self, record):
    if record:
      self.solved_at_step = np.asarray(record["solved_at_step"])
      self.solved_at_seconds = np.asarray(record["solved_at_seconds"], np.float64)
      self.last_screen_step = int(record["last_screen_step"])

  def results(self, state, final):
    errors = np.asarray(final["bits_error"])
    results = {"task": self.config.task.name, "model": self.config.model.name,
               "eval_bits_error_per_seed": errors.tolist(),
               "eval_bits_error_median": float(np.median(errors)),
               "eval_bits_error_best": float(np.min(errors)),
               "solved_at_step": self.solved_at_step.tolist(),
               "solved_at_seconds": self.solved_at_seconds.tolist()}
    if "generalization" in final:
      results["generalization"] = final["generalization"]
    return results


def per_seed_list(values) -> list:
  """`[num_seeds]` values as a list of floats (one entry per seed, also for one seed)."""
  return [float(v) for v in np.asarray(values).reshape(-1)]
