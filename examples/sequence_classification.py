"""A new model family in one module: sequence classification over any registered core.

Each example is `task.length` one-hot symbols of `task.num_symbols`; its class is the
symbol that came first, so the core must hold it in memory until the last step, where
its output is read as class logits. The loop (`memjax.training.loop`) does everything
else: checks, checkpoints and exact resumption, the NaN/Inf policy, progress lines,
evaluation, stopping, results.json.

Run (`--import` registers the family; any registered core works: lstm, gru, ntm, dnc, yours):
    python experiments/train.py --import=examples/sequence_classification.py \
        --config=examples/sequence_classification_config.py --workdir=/tmp/seqcls
    python experiments/train.py --import=examples/sequence_classification.py \
        --config=examples/sequence_classification_config.py --workdir=/tmp/seqcls_gru \
        --config.model.name=gru
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from memjax import parallel
from memjax.cores import dynamic_unroll
from memjax.cores.base import init_core
from memjax.errors import check_int
from memjax.models import registry as model_registry
from memjax.training import optim
from memjax.training.family import (Family, init_seeds, new_state, optimizer_step, over_seeds,
                                    seed_keys, summary)
from memjax.training.registry import register_family


class SequenceClassificationFamily(Family):
  """Classify a sequence of symbols by its first symbol, with any registered core."""
  name = "sequence_classification"
  blocks = ("task", "model")
  train_keys = ("eval_batch_size",)

  @classmethod
  def check_config(cls, config):
    check_int(config, "task.length", 1)
    check_int(config, "task.num_symbols", 2)
    check_int(config, "train.eval_batch_size", 1, 1000)

  def __init__(self, config):
    super().__init__(config)
    self.length, self.num_symbols = int(config.task.length), int(config.task.num_symbols)
    model_registry.resolve(config.model, self.name, ("core",))
    self.core = model_registry.build_core(config.model, self.num_symbols)
    self.optimizer = optim.make_optimizer(config.train)
    self.batch_size = int(config.train.batch_size)
    parallel.check_batch_size(self.batch_size, self.mesh)

  def _sample(self, rng, batch_size):
    """`[batch, length, num_symbols]` one-hot symbols and `[batch]` labels (the first symbol)."""
    symbols = jax.random.randint(rng, (batch_size, self.length), 0, self.num_symbols)
    return jax.nn.one_hot(symbols, self.num_symbols), symbols[:, 0]

  def _logits(self, params, inputs):
    variables = {"params": params}
    carry = self.core.apply(variables, jax.random.PRNGKey(0), inputs[:, 0].shape,
                            method=self.core.initialize_carry)
    outputs, _ = dynamic_unroll(functools.partial(self.core.apply, variables), inputs, carry)
    return outputs[:, -1]  # the core's output after the last symbol

  def _init_params(self, rng):
    return init_core(self.core, rng, (1, self.num_symbols))["params"]

  def init_state(self):
    rngs = seed_keys(self.seed, self.num_seeds)
    params, opt_state = init_seeds(self._init_params, self.optimizer, rngs)
    return parallel.replicate(new_state(params, opt_state, (), rngs), self.mesh)

  def _seed_step(self, params, opt_state, rng, step):
    inputs, labels = self._sample(jax.random.fold_in(rng, step), self.batch_size)

    def loss_fn(p):
      logits = self._logits(p, inputs)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits

    params, opt_state, logits, metrics = optimizer_step(self.optimizer, loss_fn, params,
                                                        opt_state)
    metrics["accuracy"] = jnp.mean(jnp.argmax(logits, -1) == labels)
    return params, opt_state, metrics

  def train_step(self, state, batch):
    params, opt_state, metrics = over_seeds(self._seed_step, self.num_seeds, (0, 0, 0, None),
                                            state.params, state.opt_state, state.rng, state.step)
    return state._replace(params=params, opt_state=opt_state), metrics

  def log_line(self, metrics):
    return f"loss {summary(metrics['loss'])} | train accuracy {summary(metrics['accuracy'])}"

  @functools.partial(jax.jit, static_argnums=0)
  def _accuracy(self, params):
    inputs, labels = self._sample(jax.random.PRNGKey(2**31 - 1),
                                  int(self.config.train.get("eval_batch_size", 1000)))
    accuracy = lambda p: jnp.mean(jnp.argmax(self._logits(p, inputs), -1) == labels)
    return jax.vmap(accuracy)(params)

  def evaluate(self, state, step, final):
    return {"accuracy": np.asarray(self._accuracy(state.params)).tolist()}

  def headline(self, evaluation):
    return (f"accuracy {summary(evaluation['accuracy'])} on fresh sequences "
            f"(chance {1 / self.num_symbols:.3f})")

  def results(self, state, final):
    return {"model": self.config.model.name, "length": self.length,
            "num_symbols": self.num_symbols}


register_family(SequenceClassificationFamily.name, SequenceClassificationFamily)
