"""Knowledge-graph experiments: KB question answering and the DNC paper's graph tasks.

    train_and_evaluate(config, workdir)       # config.experiment = "kbqa"

dispatches on `config.task.name`:

* `synthetic_kbqa`: the film graph of `memjax.knowledge.synthetic_kbqa`.
  Questions are linked (`knowledge.linking`), hashed to a fixed-size
  candidate set of triples (`knowledge.key_hashing`, jitted, once per split)
  and answered by `model.name`:
    - `kv_memory`: `knowledge.kv_memory.KeyValueMemory` over the candidates;
    - `lstm`: an LSTM (`memjax.cores.LSTMCore`) over the question's tokens,
      the linked entity as one token, scoring every entity: no memory, so it
      can only answer from what its weights memorised in training.
  The metric is hits@1 (the top entity is one of the answers) per hop count
  on valid / test / test_heldout.
* `graph_traversal`, `graph_shortest_path`, `graph_inference`
  (`knowledge.graph_tasks`): any registered core (`model.name` = ntm | dnc |
  lstm | ...) through `memjax.cores.dynamic_unroll`, softmax outputs per
  answer field, or `model.name` = `kv_memory`:
  `knowledge.graph_kv_memory.GraphKeyValueMemory`, the graph's triples as
  key-value slots read over several hops; the metric is the fraction of
  questions answered exactly.

Training is one jitted optax step per batch; batches are a function of
`(seed, step)`, so a relaunch with the same `--workdir` resumes from the
newest good checkpoint and sees the batches an uninterrupted run would.
Outputs: `results.json`, `log.txt`, TensorBoard events, `checkpoints/`.
"""
import functools
import time
from typing import Any, Dict, NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from memjax.cores import static_unroll
from memjax.cores.recurrent import LSTM, lstm_zero_state
from memjax.knowledge import (graph_kv_memory, graph_tasks, key_hashing, kv_memory,
                              synthetic_kbqa)
from memjax.knowledge.linking import EntityLinker
from memjax.training import checkpoint as checkpoint_lib
from memjax.training import metrics as metrics_lib
from memjax.training import optim
from memjax.training import parallel
from memjax.training.errors import ConfigError
from memjax.training.trainer import check_workdir

KBQA_MODELS = ("kv_memory", "lstm")
_HASH_CHUNK = 512      # questions per jitted key-hashing call
_EVAL_CHUNK = 1024     # questions per evaluation call
_GRAPH_EVAL_CHUNK = 250  # graphs per evaluation call
_EPSILON = 1e-9


class TrainState(NamedTuple):
  """Everything needed to resume.

  Attributes:
    step: `[]` int32 updates done.
    params: model parameters.
    opt_state: optax state.
  """
  step: jax.Array
  params: Any
  opt_state: Any


# ---------------------------------------------------------------------------
# KB-QA data.

class KBQASplit(NamedTuple):
  """One split as numpy arrays, leading dim N questions (see `synthetic_kbqa.EncodedQuestions`).

  Attributes:
    questions: the encoded questions.
    candidates: `[N, K]` int32 hashed triple indices.
    candidate_mask: `[N, K]` bool.
    num_reachable: `[N]` int32 reachable triples before the cut to K.
  """
  questions: synthetic_kbqa.EncodedQuestions
  candidates: np.ndarray
  candidate_mask: np.ndarray
  num_reachable: np.ndarray

  @property
  def size(self) -> int:
    return int(self.questions.num_hops.shape[0])


def _kbqa_config(task: ml_collections.ConfigDict) -> synthetic_kbqa.KBQAConfig:
  fields = {k: v for k, v in dict(task).items() if k not in ("name", "num_hops", "max_candidates")}
  allowed = {f for f in synthetic_kbqa.KBQAConfig.__dataclass_fields__}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ConfigError(f"task.{unknown[0]} is not a field of task 'synthetic_kbqa'; its fields "
                      f"are {sorted(allowed | {'name', 'num_hops', 'max_candidates'})}")
  return synthetic_kbqa.KBQAConfig(**fields)


def hash_questions(arrays, seed_entities: np.ndarray, num_entities: int, num_hops: int,
                   max_candidates: int) -> key_hashing.CandidateSet:
  """`key_hashing.batch_hash_candidates` in fixed-size chunks (one compilation)."""
  pieces = []
  n = seed_entities.shape[0]
  for start in range(0, n, _HASH_CHUNK):
    chunk = seed_entities[start:start + _HASH_CHUNK]
    padded = np.full((_HASH_CHUNK, chunk.shape[1]), -1, np.int32)
    padded[:len(chunk)] = chunk
    result = key_hashing.batch_hash_candidates(arrays, jnp.asarray(padded), num_entities,
                                               num_hops, max_candidates)
    pieces.append(jax.tree_util.tree_map(lambda x: np.asarray(x)[:len(chunk)], result))
  return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *pieces)


class KBQAData(NamedTuple):
  """The graph, vocabularies and every split."""
  dataset: synthetic_kbqa.KBQADataset
  vocabulary: Tuple[str, ...]
  splits: Dict[str, KBQASplit]
  linking_accuracy: Dict[str, float]
  seconds: float


def build_kbqa_data(task: ml_collections.ConfigDict, with_candidates: bool = True) -> KBQAData:
  """Generates, links, encodes and (for the memory) hashes every split."""
  start = time.time()
  dataset = synthetic_kbqa.generate(_kbqa_config(task))
  graph = dataset.graph
  linker = EntityLinker(graph.entity_names)
  vocabulary = synthetic_kbqa.build_vocabulary(dataset.splits["train"], linker)
  arrays = graph.arrays()
  num_hops, max_candidates = int(task.num_hops), int(task.max_candidates)
  splits, linking = {}, {}
  for name, questions in dataset.splits.items():
    encoded = synthetic_kbqa.encode(questions, linker, vocabulary)
    linking[name] = float(np.mean(encoded.seed_entities[:, 0] == encoded.gold_entity))
    if with_candidates:
      candidates = hash_questions(arrays, encoded.seed_entities, graph.num_entities, num_hops,
                                  max_candidates)
      splits[name] = KBQASplit(encoded, candidates.indices, candidates.mask,
                               candidates.num_reachable)
    else:
      n = len(questions)
      splits[name] = KBQASplit(encoded, np.zeros((n, 1), np.int32), np.zeros((n, 1), bool),
                               np.zeros((n,), np.int32))
  return KBQAData(dataset, vocabulary, splits, linking, time.time() - start)


# ---------------------------------------------------------------------------
# KB-QA models.

class LSTMQuestionAnswerer(nn.Module):
  """LSTM baseline: reads the question tokens, scores all E entities after the last token.

      x_t = A_W w_t + A_E e_t   (e_t: the linked entity at its mention, else 0)
      h_t = LSTM(h_{t-1}, x_t),   logits = W h_T   `[batch, E]`

  The readout runs once, on h_T, not at every step as `LSTMCore` would:
  the E-way output dominates the cost.
  """
  num_entities: int
  vocab_size: int
  embed_dim: int = 64
  hidden_size: int = 256

  @nn.compact
  def __call__(self, tokens: jax.Array, token_entities: jax.Array) -> jax.Array:
    word = nn.Embed(self.vocab_size, self.embed_dim, name="word_embed")(tokens)
    entity = nn.Embed(self.num_entities, self.embed_dim, name="entity_embed")(
        jnp.maximum(token_entities, 0)) * (token_entities >= 0)[..., None]
    inputs = word + entity                                                   # [B, L, d]
    lstm = LSTM(self.hidden_size, name="lstm")
    hidden, _ = static_unroll(lstm, inputs, lstm_zero_state(inputs.shape[:1], self.hidden_size))
    last = jnp.maximum(jnp.sum(tokens > 0, axis=1) - 1, 0)
    final = jnp.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]   # [B, hidden]
    return nn.Dense(self.num_entities, name="readout")(final)


class KBQAModel:
  """A KB-QA model as pure functions of (params, batch dict)."""

  def __init__(self, config: ml_collections.ConfigDict, data: KBQAData):
    graph = data.dataset.graph
    self.name = config.model.name
    if self.name not in KBQA_MODELS:
      raise ConfigError(f"model.name={self.name!r} is not one of {KBQA_MODELS} for task "
                        "synthetic_kbqa")
    fields = {k: v for k, v in dict(config.model).items() if k != "name"}
    self.arrays = jax.tree_util.tree_map(jnp.asarray, graph.arrays())
    try:
      if self.name == "kv_memory":
        self.module = kv_memory.KeyValueMemory(graph.num_entities, graph.num_relations,
                                               len(data.vocabulary), **fields)
      else:
        self.module = LSTMQuestionAnswerer(graph.num_entities, len(data.vocabulary), **fields)
    except TypeError as error:
      raise ConfigError(f"model: {error} (model.name={self.name!r})") from None

  def batch(self, split: KBQASplit, index: np.ndarray) -> Dict[str, np.ndarray]:
    q = split.questions
    batch = {"answers": q.answers[index]}
    if self.name == "kv_memory":
      batch.update(words=q.words[index], seeds=q.seed_entities[index],
                   candidates=split.candidates[index], mask=split.candidate_mask[index])
    else:
      batch.update(tokens=q.tokens[index], token_entities=q.token_entities[index])
    return batch

  def _inputs(self, batch) -> kv_memory.KVMemoryInputs:
    candidates = batch["candidates"]
    return kv_memory.KVMemoryInputs(
        batch["words"], batch["seeds"], self.arrays.subjects[candidates],
        self.arrays.relations[candidates], self.arrays.objects[candidates], batch["mask"])

  def init(self, rng: jax.Array, batch) -> Any:
    if self.name == "kv_memory":
      return self.module.init(rng, self._inputs(batch))["params"]
    return self.module.init(rng, batch["tokens"], batch["token_entities"])["params"]

  def loss_and_predictions(self, params, batch) -> Tuple[jax.Array, jax.Array]:
    """Mean -log P(answer in A) and `[batch]` predicted entity ids."""
    answers = batch["answers"]
    if self.name == "kv_memory":
      inputs = self._inputs(batch)
      outputs = self.module.apply({"params": params}, inputs)
      is_answer = jnp.any((inputs.objects[..., None] == answers[:, None, :])
                          & (answers[:, None, :] >= 0), axis=-1) & inputs.mask
      log_likelihood = kv_memory.answer_log_likelihood(outputs.answer_weights, is_answer)
      predictions = kv_memory.predict(outputs, inputs.objects, inputs.mask)
    else:
      logits = self.module.apply({"params": params}, batch["tokens"], batch["token_entities"])
      answer_logits = jnp.where(answers >= 0,
                                jnp.take_along_axis(logits, jnp.maximum(answers, 0), axis=1),
                                -jnp.inf)
      log_likelihood = (jax.nn.logsumexp(answer_logits, axis=-1)
                        - jax.nn.logsumexp(logits, axis=-1))
      predictions = jnp.argmax(logits, axis=-1)
    return -jnp.mean(log_likelihood), predictions


def hits_at_1(predictions: np.ndarray, answers: np.ndarray) -> np.ndarray:
  """`[N]` bool: the predicted entity is one of the (-1 padded) answers."""
  return np.any((predictions[:, None] == answers) & (answers >= 0), axis=1)


# ---------------------------------------------------------------------------
# Shared loop.

class _Experiment(NamedTuple):
  """What the shared loop needs from a task family."""
  init_batch: Dict[str, np.ndarray]
  sample: Any          # (step) -> batch dict (numpy)
  loss: Any            # (params, batch) -> (loss, aux)
  init: Any            # (rng, batch) -> params
  evaluate: Any        # (params, final: bool) -> dict of scalars / tables
  headline: Any        # (eval dict) -> short string
  describe: Dict[str, Any]


def _run(config: ml_collections.ConfigDict, workdir: str, experiment: _Experiment,
         start_time: float, mesh) -> Dict[str, Any]:
  train = config.train
  is_chief = jax.process_index() == 0  # process 0 writes logs and results; all write checkpoints
  workdir_path = check_workdir(config, workdir)
  writer = metrics_lib.MetricWriter(workdir, enabled=is_chief)
  checkpointer = checkpoint_lib.Checkpointer(str(workdir_path / "checkpoints"),
                                             max_to_keep=train.get("keep_checkpoints", 3))
  optimizer = optim.make_optimizer(train)
  params = experiment.init(jax.random.PRNGKey(config.seed), experiment.init_batch)
  state = parallel.replicate(TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params)),
                             mesh)
  restored, restored_step = checkpointer.restore_latest(state, set_aside_unreadable=True)
  resumed_from_step = None
  if restored is not None:
    resumed_from_step = int(restored_step)
    state = TrainState(*restored)
    print(f"Resumed from {checkpointer.step_path(restored_step)} (step {restored_step})",
          flush=True)

  @jax.jit
  def train_step(state: TrainState, batch):
    (loss, _), grads = jax.value_and_grad(experiment.loss, has_aux=True)(state.params, batch)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
               "param_norm": optax.global_norm(state.params),
               "learning_rate": optim.current_learning_rate(state.opt_state)}
    return TrainState(state.step + 1, optax.apply_updates(state.params, updates), opt_state), \
        metrics

  num_steps = int(train.num_steps)
  log_every, eval_every = int(train.log_every), int(train.eval_every)
  checkpoint_every = int(train.get("checkpoint_every", 0) or 0)
  step = int(state.step)
  loop_start, loop_start_step = time.time(), step
  history = []
  while step < num_steps:
    state, metrics = train_step(state, parallel.put_batch(experiment.sample(step), mesh))
    step += 1
    if step % log_every == 0 or step == num_steps:
      host = {k: float(v) for k, v in jax.device_get(metrics).items() if v is not None}
      rate = (step - loop_start_step) / max(time.time() - loop_start, 1e-9)
      host["steps_per_second"] = rate
      writer.write_scalars(step, host)
      print(f"step {step}/{num_steps} | loss {host['loss']:.4f} | {rate:.1f} steps/s | "
            f"{time.time() - start_time:.0f}s | ETA "
            f"{metrics_lib.format_duration((num_steps - step) / max(rate, 1e-9))}", flush=True)
      if not np.isfinite(host["loss"]):
        raise FloatingPointError(f"loss is {host['loss']} at step {step}; lower "
                                 f"train.learning_rate (now {train.learning_rate})")
    if step % eval_every == 0 and step < num_steps:
      evaluation = experiment.evaluate(state.params, final=False)
      writer.write_scalars(step, {f"eval/{k}": v for k, v in evaluation.items()
                                  if np.ndim(v) == 0 and not isinstance(v, str)})
      history.append({"step": step, **evaluation})
      print(f"  eval @ {step}: {experiment.headline(evaluation)}", flush=True)
    if checkpoint_every and step % checkpoint_every == 0:
      checkpointer.save(step, state)
  if checkpointer.latest_step() != step:
    checkpointer.save(step, state, force=True)
  evaluation = experiment.evaluate(state.params, final=True)
  print(f"final @ {step}: {experiment.headline(evaluation)}", flush=True)
  results = {**experiment.describe, "steps": step, "final": evaluation, "history": history,
             "resumed_from_step": resumed_from_step,  # times below cover this launch only
             "wall_seconds": time.time() - start_time,
             "train_seconds": time.time() - loop_start,
             "devices": [str(d) for d in jax.devices()],
             "data_parallel_devices": int(mesh.size)}
  results_path = metrics_lib.write_results(workdir, results, enabled=is_chief)
  writer.close()
  checkpointer.close()
  results["results_path"] = results_path
  return results


# ---------------------------------------------------------------------------
# KB-QA experiment.

def _kbqa_experiment(config: ml_collections.ConfigDict, mesh) -> _Experiment:
  data = build_kbqa_data(config.task, with_candidates=config.model.name == "kv_memory")
  model = KBQAModel(config, data)
  train_split = data.splits["train"]
  batch_size = int(config.train.batch_size)
  if batch_size < 1:
    raise ConfigError(f"train.batch_size={batch_size} must be >= 1")
  print(f"synthetic_kbqa: {data.dataset.graph.num_triples} triples, "
        f"{data.dataset.graph.num_entities} entities, "
        + ", ".join(f"{k} {v.size}" for k, v in data.splits.items())
        + f" questions; linking accuracy {data.linking_accuracy}; built in {data.seconds:.0f}s",
        flush=True)

  def sample(step: int):
    rng = np.random.default_rng([int(config.seed), step])
    return model.batch(train_split, rng.integers(0, train_split.size, batch_size))

  predict = jax.jit(lambda params, batch: model.loss_and_predictions(params, batch)[1])

  def split_hits(params, split: KBQASplit) -> Dict[str, float]:
    predictions = []
    for start in range(0, split.size, _EVAL_CHUNK):
      index = np.arange(start, start + _EVAL_CHUNK) % split.size   # fixed shape: one compile
      # Padded to a multiple of the devices (1024 splits over any power of two; 6 need 1026).
      predictions.append(parallel.run_padded(predict, params, model.batch(split, index), mesh))
    predictions = np.concatenate(predictions)[:split.size]
    hits = hits_at_1(predictions, split.questions.answers)
    table = {str(h): float(np.mean(hits[split.questions.num_hops == h]))
             for h in (1, 2, 3) if np.any(split.questions.num_hops == h)}
    table["all"] = float(np.mean(hits))
    return table

  def evaluate(params, final: bool):
    names = ("valid", "test", "test_heldout") if final else ("valid",)
    out = {}
    for name in names:
      for hop, value in split_hits(params, data.splits[name]).items():
        out[f"{name}_hits1_hop{hop}"] = value
    return out

  def headline(evaluation):
    return " | ".join(f"{k} {v:.3f}" for k, v in evaluation.items())

  coverage = {}
  if model.name == "kv_memory":
    for name, split in data.splits.items():
      objects = np.asarray(data.dataset.graph.arrays().objects)[split.candidates]
      answers = split.questions.answers
      covered = np.any((objects[:, :, None] == answers[:, None, :]) & (answers[:, None, :] >= 0)
                       & split.candidate_mask[:, :, None], axis=(1, 2))
      coverage[name] = {"answer_in_candidates": float(np.mean(covered)),
                        "truncated_fraction": float(np.mean(split.num_reachable
                                                            > split.candidates.shape[1])),
                        "median_reachable": float(np.median(split.num_reachable))}
  describe = {"task": "synthetic_kbqa", "model": model.name,
              "num_triples": data.dataset.graph.num_triples,
              "num_entities": data.dataset.graph.num_entities,
              "num_relations": data.dataset.graph.num_relations,
              "split_sizes": {k: v.size for k, v in data.splits.items()},
              "linking_accuracy": data.linking_accuracy, "candidates": coverage,
              "data_seconds": data.seconds}
  init_batch = sample(0)
  return _Experiment(init_batch, sample, model.loss_and_predictions, model.init, evaluate,
                     headline, describe)


# ---------------------------------------------------------------------------
# Graph tasks: recurrent cores, or the key-value memory over the graph's triples.

def _graph_core(config: ml_collections.ConfigDict, task: graph_tasks.GraphTask,
                batch_size: int):
  """(init, logits_of) for a registered recurrent core unrolled over the task's steps."""
  from memjax.cores import build_core, dynamic_unroll
  from memjax.cores import registry
  from memjax.cores.base import init_core
  if config.model.name == "dnc" and "dnc" not in registry.registered_cores():
    from memjax.cores.dnc import DNC  # until memjax.cores.registry lists it
    registry.register_core("dnc", DNC)
  try:
    core = build_core(dict(config.model), task.output_size)
  except ValueError as error:
    raise ConfigError(str(error)) from None

  def init(rng, batch):
    del batch
    return init_core(core, rng, (batch_size, task.input_size))["params"]

  def logits_of(params, batch):
    variables = {"params": params}
    carry = core.apply(variables, jax.random.PRNGKey(0), batch["inputs"][:, 0].shape,
                       method=core.initialize_carry)
    return dynamic_unroll(functools.partial(core.apply, variables), batch["inputs"], carry)[0]

  return init, logits_of


def build_graph_kv_memory(model: ml_collections.ConfigDict, task: graph_tasks.GraphTask
                          ) -> graph_kv_memory.GraphKeyValueMemory:
  """`graph_kv_memory.GraphKeyValueMemory` for `task` from a `model` block; ConfigError if unfit."""
  fields = {k: v for k, v in dict(model).items() if k != "name"}
  allowed = {"embed_dim", "num_hops", "answer_from", "embed_stddev"}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ConfigError(f"model.{unknown[0]} is not a field of model 'kv_memory' on graph tasks; "
                      f"its fields are {sorted(allowed | {'name'})}")
  module = graph_kv_memory.GraphKeyValueMemory(
      task.num_labels, task.num_relations, task.max_query_steps, task.max_answer_steps,
      **fields)
  try:
    module.check()
  except ValueError as error:
    raise ConfigError(f"{error} (task {task.name!r})") from None
  return module


def _graph_kv_memory(config: ml_collections.ConfigDict, task: graph_tasks.GraphTask):
  """(init, logits_of) for the key-value memory over the task's graph triples."""
  module = build_graph_kv_memory(config.model, task)

  def init(rng, batch):
    return module.init(rng, jnp.asarray(batch["inputs"]))["params"]

  def logits_of(params, batch):
    return module.apply({"params": params}, batch["inputs"]).logits

  return init, logits_of


def _graph_experiment(config: ml_collections.ConfigDict, mesh) -> _Experiment:
  try:
    task = graph_tasks.build_graph_task(dict(config.task))
  except ValueError as error:
    raise ConfigError(str(error)) from None
  batch_size = int(config.train.batch_size)
  eval_size = int(config.train.get("eval_batch_size", 1000))

  def sample(step: int):
    return task.sample(np.random.default_rng([int(config.seed), step]), batch_size)._asdict()

  if config.model.name == "kv_memory":
    init, logits_of = _graph_kv_memory(config, task)
  else:
    init, logits_of = _graph_core(config, task, batch_size)

  def loss(params, batch):
    logits = logits_of(params, batch)
    return graph_tasks.sequence_loss(task, logits, batch["targets"], batch["mask"]), logits

  @jax.jit
  def correct(params, batch):
    logits = logits_of(params, batch)
    return graph_tasks.answers_correct(task, logits, batch["targets"], batch["mask"])

  eval_rng_seed = int(config.seed) + 10_000

  def evaluate(params, final: bool):
    size = eval_size if final else max(eval_size // 4, 1)
    chunk = min(eval_size, _GRAPH_EVAL_CHUNK)  # one shape for every evaluation: one compile
    results = []
    for i in range(0, size, chunk):
      batch = task.sample(np.random.default_rng([eval_rng_seed, i]), chunk)._asdict()
      results.append(parallel.run_padded(correct, params, batch, mesh))  # split over every device
    question = np.concatenate([r[0] for r in results])
    step_correct = np.concatenate([r[1] for r in results])
    step_mask = np.concatenate([r[2] for r in results])
    return {"question_accuracy": float(np.mean(question)),
            "answer_step_accuracy": float(np.sum(step_correct * step_mask)
                                          / max(np.sum(step_mask), 1))}

  def headline(evaluation):
    return (f"questions answered exactly {evaluation['question_accuracy']:.3f} | "
            f"answer steps {evaluation['answer_step_accuracy']:.3f}")

  describe = {"task": task.name, "model": config.model.name,
              "paper_accuracy": graph_tasks.DNC_PAPER_ACCURACY.get(task.name),
              "task_config": dict(config.task)}
  return _Experiment(sample(0), sample, loss, init, evaluate, headline, describe)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       start_time: Optional[float] = None) -> Dict[str, Any]:
  """Trains and evaluates a knowledge-graph experiment; returns the results dict.

  Args:
    config: see `configs/kbqa_kvmemory.py`, `configs/kbqa_lstm.py`,
      `configs/graph_traversal_ntm.py` for every field.
    workdir: outputs; relaunching with the same workdir resumes.
    start_time: `time.time()` at launch, so reported times include start-up.
  """
  start_time = time.time() if start_time is None else start_time
  # Data parallel as the algorithmic trainer: each batch split along the mesh's
  # `data` axis, parameters replicated, gradients all-reduced.
  mesh = parallel.config_mesh(config)
  parallel.check_batch_size(int(config.train.batch_size), mesh)
  name = config.task.name
  if name == "synthetic_kbqa":
    experiment = _kbqa_experiment(config, mesh)
  elif name in graph_tasks.GRAPH_TASKS:
    experiment = _graph_experiment(config, mesh)
  else:
    raise ConfigError(f"task.name={name!r} is not one of "
                      f"{['synthetic_kbqa', *sorted(graph_tasks.GRAPH_TASKS)]} "
                      "for config.experiment='kbqa'")
  return _run(config, workdir, experiment, start_time, mesh)
