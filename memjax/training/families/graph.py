"""The DNC paper's graph tasks (Graves et al. 2016): traversal, shortest path, inference.

    config.experiment = "graph"     # configs/graph_traversal_ntm.py (and :lstm, :dnc, :kv_memory)

Random graphs arrive one triple per step, then a query, then answer steps
(`memjax.knowledge.graph_tasks`). `model.name` is any registered core (ntm, dnc,
lstm, gru, a user's), unrolled over the steps with `memjax.cores.dynamic_unroll`
with softmax outputs per answer field, or `kv_memory`
(`memjax.knowledge.graph_kv_memory`: the graph's triples as key-value slots read
over several hops). Each step trains on `train.batch_size` fresh graphs drawn from
`(seed, step)`; the metric is the fraction of questions answered exactly, on
`train.eval_batch_size` fresh graphs at the end (a quarter of them during training).
"""
import functools

import jax
import numpy as np

from memjax import parallel
from memjax.cores import dynamic_unroll
from memjax.cores.base import init_core
from memjax.errors import ConfigError, check_float, check_int, config_value
from memjax.knowledge import graph_tasks
from memjax.knowledge.graph_kv_memory import build_graph_kv_memory
from memjax.models import registry as model_registry
from memjax.training import optim
from memjax.training.family import Family, new_state, one_seed, optimizer_step, over_seeds

_GRAPH_EVAL_CHUNK = 250  # graphs per evaluation call


class GraphFamily(Family):
  """A recurrent core, or a key-value memory, on a DNC graph task."""
  name = "graph"
  blocks = ("task", "model")
  train_keys = ("eval_batch_size",)
  resumable = ("train.eval_batch_size",)
  host_only = ("seed",) + resumable
  max_seeds = 1

  @classmethod
  def check_config(cls, config):
    check_int(config, "train.eval_batch_size", 1, 1000)
    if config_value(config, "model.name", None) == "kv_memory":  # (cores check their own)
      check_int(config, "model.embed_dim", 1, 64)
      check_int(config, "model.num_hops", 1, 3)
      check_float(config, "model.embed_stddev", 0.1, above=0.0)

  def __init__(self, config):
    super().__init__(config)
    try:
      self.task = graph_tasks.build_graph_task(dict(config.task))
    except ValueError as error:
      raise ConfigError(str(error)) from None
    _, self.kind = model_registry.resolve(config.model, self.name, ("core", "kv_memory"))
    self.batch_size = int(config.train.batch_size)
    parallel.check_batch_size(self.batch_size, self.mesh)
    self.eval_size = int(config.train.get("eval_batch_size", 1000))
    self.optimizer = optim.make_optimizer(config.train)
    if self.kind == "kv_memory":
      self.module = build_graph_kv_memory(config.model, self.task)
    else:
      self.core = model_registry.build_core(config.model, self.task.output_size)
      # The core checks its sizes when it is set up: now, before the workdir is used.
      jax.eval_shape(self._init_params, jax.random.PRNGKey(0))

  def _host_batch(self, rng_seed, step: int, size: int):
    return self.task.sample(np.random.default_rng([rng_seed, step]), size)._asdict()

  def _init_params(self, rng):
    if self.kind == "kv_memory":
      return self.module.init(rng, self._host_batch(self.seed, 0, self.batch_size)["inputs"])[
          "params"]
    return init_core(self.core, rng, (self.batch_size, self.task.input_size))["params"]

  def logits(self, params, inputs):
    """`[batch, time, output_size]` logits of the model over a batch of task sequences."""
    if self.kind == "kv_memory":
      return self.module.apply({"params": params}, inputs).logits
    variables = {"params": params}
    carry = self.core.apply(variables, jax.random.PRNGKey(0), inputs[:, 0].shape,
                            method=self.core.initialize_carry)
    return dynamic_unroll(functools.partial(self.core.apply, variables), inputs, carry)[0]

  def init_state(self):
    params = self._init_params(jax.random.PRNGKey(self.seed))
    return parallel.replicate(new_state(params, self.optimizer.init(params), (),
                                        jax.random.PRNGKey(self.seed), True), self.mesh)

  def batch(self, step):
    return parallel.put_batch(self._host_batch(self.seed, step, self.batch_size), self.mesh)

  def _loss(self, params, batch):
    logits = self.logits(params, batch["inputs"])
    return graph_tasks.sequence_loss(self.task, logits, batch["targets"], batch["mask"]), logits

  def _seed_step(self, params, opt_state, batch):
    params, opt_state, _, metrics = optimizer_step(self.optimizer, self._loss, params, opt_state,
                                                   batch)
    return params, opt_state, metrics

  def train_step(self, state, batch):
    params, opt_state, metrics = over_seeds(self._seed_step, self.num_seeds, (0, 0, None),
                                            state.params, state.opt_state, batch)
    return state._replace(params=params, opt_state=opt_state), metrics

  @functools.partial(jax.jit, static_argnums=0)
  def _correct(self, params, batch):
    logits = self.logits(params, batch["inputs"])
    return graph_tasks.answers_correct(self.task, logits, batch["targets"], batch["mask"])

  def evaluate(self, state, step, final):
    params = one_seed(state.params)
    size = self.eval_size if final else max(self.eval_size // 4, 1)
    chunk = min(self.eval_size, _GRAPH_EVAL_CHUNK)  # one shape for every evaluation: one compile
    results = []
    for i in range(0, size, chunk):
      batch = self._host_batch(self.seed + 10_000, i, chunk)
      results.append(parallel.run_padded(self._correct, params, batch, self.mesh))
    question = np.concatenate([r[0] for r in results])
    step_correct = np.concatenate([r[1] for r in results])
    step_mask = np.concatenate([r[2] for r in results])
    return {"question_accuracy": float(np.mean(question)),
            "answer_step_accuracy": float(np.sum(step_correct * step_mask)
                                          / max(np.sum(step_mask), 1))}

  def headline(self, evaluation):
    return (f"questions answered exactly {evaluation['question_accuracy']:.3f} | "
            f"answer steps {evaluation['answer_step_accuracy']:.3f}")

  def results(self, state, final):
    return {"task": self.task.name, "model": self.config.model.name,
            "paper_accuracy": graph_tasks.DNC_PAPER_ACCURACY.get(self.task.name),
            "task_config": dict(self.config.task)}
