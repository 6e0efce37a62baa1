"""KB question answering over a synthetic film knowledge graph (`memjax.knowledge`).

    config.experiment = "kbqa"      # configs/kbqa_kv_memory.py, configs/kbqa_lstm.py

The graph and its 1/2/3-hop questions come from `memjax.knowledge.synthetic_kbqa`
(a pure function of `task.seed`); questions are linked, encoded and, for the
key-value memory, hashed to `task.max_candidates` triples
(`memjax.knowledge.kbqa_data`). `model.name`:

- `kv_memory`: `memjax.knowledge.kv_memory.KeyValueMemory` over the candidates;
- `lstm`: an LSTM over the question's tokens (the linked entity as one token)
  scoring every entity; no memory, so it answers only from what its weights hold.

Each step trains on `train.batch_size` questions drawn from `(seed, step)`; the
metric is hits@1 (the top entity is one of the answers) per hop count, on the
valid split during training and on valid / test / test_heldout at the end.
"""
from typing import Dict

import jax
import numpy as np

from memjax import parallel
from memjax.knowledge import synthetic_kbqa
from memjax.knowledge.kbqa_data import KBQASplit, answer_coverage, build_kbqa_data, kbqa_config
from memjax.knowledge.kbqa_models import KBQAModel, hits_at_1
from memjax.errors import ConfigError, check_float, check_int, config_value
from memjax.models import registry as model_registry
from memjax.training import optim
from memjax.training.family import Family, new_state, one_seed, optimizer_step, over_seeds

_EVAL_CHUNK = 1024  # questions per evaluation call


def _check_splits(sizes: Dict[str, int], config) -> None:
  """A ConfigError naming `task.questions_per_hop` when a split is empty (every split is
  scored: its hits@1 would be the mean of nothing, NaN)."""
  for name, size in sizes.items():
    if size == 0:
      raise ConfigError(f"config.task.questions_per_hop={config.task.questions_per_hop} "
                        f"leaves the {name} split empty; raise it (or the split's fraction)")


class KBQAFamily(Family):
  """Multi-hop KB-QA: a key-value memory over candidate triples, or an LSTM baseline."""
  name = "kbqa"
  blocks = ("task", "model")
  host_only = ("seed",)
  max_seeds = 1

  @classmethod
  def check_config(cls, config):
    """The graph's sizes (a film's cast draws 2-4 distinct people; birth years come from the
    first half of the years), the split fractions (every split is scored, so none may be
    empty), the hashing depth and candidate count, and the model's sizes."""
    check_int(config, "task.seed", 0, 0)
    check_int(config, "task.num_films", 1, 1800)
    people = check_int(config, "task.num_people", 4, 1500, note=" (a cast has up to 4 people)")
    check_int(config, "task.num_directors", 1, 400, maximum=people,
              note=f" (directors are people: 1..task.num_people={people})")
    check_int(config, "task.num_cities", 1, 150)
    check_int(config, "task.num_countries", 1, 25)
    check_int(config, "task.num_years", 2, 80)
    check_int(config, "task.first_year", -10**6, 1940)
    check_int(config, "task.questions_per_hop", 1, 12000)
    valid = check_float(config, "task.valid_fraction", 0.1, above=0.0, below=1.0)
    test = check_float(config, "task.test_fraction", 0.1, above=0.0, below=1.0)
    if valid + test >= 1.0:
      raise ConfigError(f"config.task.valid_fraction={valid} + task.test_fraction={test} must "
                        "be < 1 (the rest is the training split)")
    check_float(config, "task.heldout_fraction", 0.05, above=0.0, below=1.0)
    check_float(config, "task.lowercase_fraction", 0.1, minimum=0.0)
    if float(config_value(config, "task.lowercase_fraction", 0.1)) > 1.0:
      raise ConfigError(f"config.task.lowercase_fraction={config.task.lowercase_fraction} must "
                        "be in [0, 1]")
    check_int(config, "task.num_hops", 1, 3)
    check_int(config, "task.max_candidates", 1, 128)
    check_int(config, "model.embed_dim", 1, 64)
    if config_value(config, "model.name", None) == "kv_memory":
      check_int(config, "model.num_hops", 1, 3)
      check_float(config, "model.embed_stddev", 0.1, above=0.0)
    else:
      check_int(config, "model.hidden_size", 1, 256)

  def __init__(self, config):
    super().__init__(config)
    model_registry.resolve(config.model, self.name, ("kv_memory", "question_reader"),
                           extra={"lstm": "question_reader"})
    try:
      self.data = build_kbqa_data(config.task, with_candidates=config.model.name == "kv_memory")
    except ValueError as error:  # e.g. more cities than the generator has names
      raise ConfigError(f"config.task: {error}") from None
    except TypeError:  # encoding an empty split fails; say which, if that was it
      splits = synthetic_kbqa.generate(kbqa_config(config.task)).splits
      _check_splits({name: len(questions) for name, questions in splits.items()}, config)
      raise
    _check_splits({name: split.size for name, split in self.data.splits.items()}, config)
    self.model = KBQAModel(config, self.data)
    self.batch_size = int(config.train.batch_size)
    parallel.check_batch_size(self.batch_size, self.mesh)
    self.optimizer = optim.make_optimizer(config.train)
    self._predict = jax.jit(lambda params, batch: self.model.loss_and_predictions(params, batch)[1])
    graph = self.data.dataset.graph
    print(f"synthetic_kbqa: {graph.num_triples} triples, {graph.num_entities} entities, "
          + ", ".join(f"{k} {v.size}" for k, v in self.data.splits.items())
          + f" questions; linking accuracy {self.data.linking_accuracy}; built in "
          f"{self.data.seconds:.0f}s", flush=True)

  def _host_batch(self, step: int):
    train_split = self.data.splits["train"]
    rng = np.random.default_rng([self.seed, step])
    return self.model.batch(train_split, rng.integers(0, train_split.size, self.batch_size))

  def init_state(self):
    params = self.model.init(jax.random.PRNGKey(self.seed), self._host_batch(0))
    return parallel.replicate(new_state(params, self.optimizer.init(params), (),
                                        jax.random.PRNGKey(self.seed), True), self.mesh)

  def batch(self, step):
    return parallel.put_batch(self._host_batch(step), self.mesh)

  def _seed_step(self, params, opt_state, batch):
    params, opt_state, _, metrics = optimizer_step(self.optimizer, self.model.loss_and_predictions,
                                                   params, opt_state, batch)
    return params, opt_state, metrics

  def train_step(self, state, batch):
    params, opt_state, metrics = over_seeds(self._seed_step, self.num_seeds, (0, 0, None),
                                            state.params, state.opt_state, batch)
    return state._replace(params=params, opt_state=opt_state), metrics

  def _split_hits(self, params, split: KBQASplit) -> Dict[str, float]:
    predictions = []
    for start in range(0, split.size, _EVAL_CHUNK):
      index = np.arange(start, start + _EVAL_CHUNK) % split.size   # fixed shape: one compile
      # Padded to a multiple of the devices (1024 splits over any power of two; 6 need 1026).
      predictions.append(parallel.run_padded(self._predict, params, self.model.batch(split, index),
                                             self.mesh))
    hits = hits_at_1(np.concatenate(predictions)[:split.size], split.questions.answers)
    hops = split.questions.num_hops
    table = {str(h): float(np.mean(hits[hops == h])) for h in (1, 2, 3) if np.any(hops == h)}
    table["all"] = float(np.mean(hits))
    return table

  def evaluate(self, state, step, final):
    params = one_seed(state.params)
    evaluation = {}
    for name in (("valid", "test", "test_heldout") if final else ("valid",)):
      for hop, value in self._split_hits(params, self.data.splits[name]).items():
        evaluation[f"{name}_hits1_hop{hop}"] = value
    return evaluation

  def headline(self, evaluation):
    return " | ".join(f"{k} {v:.3f}" for k, v in evaluation.items())

  def results(self, state, final):
    graph = self.data.dataset.graph
    return {"task": "synthetic_kbqa", "model": self.model.name,
            "num_triples": graph.num_triples, "num_entities": graph.num_entities,
            "num_relations": graph.num_relations,
            "split_sizes": {k: v.size for k, v in self.data.splits.items()},
            "linking_accuracy": self.data.linking_accuracy,
            "candidates": answer_coverage(self.data) if self.model.name == "kv_memory" else {},
            "data_seconds": self.data.seconds}
