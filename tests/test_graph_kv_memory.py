"""Tests for memjax.knowledge.graph_kv_memory: the key-value memory on the DNC graph tasks."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from memjax.errors import ConfigError
from memjax.knowledge import graph_tasks as gt
from memjax.knowledge.graph_kv_memory import (GraphKeyValueMemory, build_graph_kv_memory,
                                              step_positions)
from tests.family_configs import load_config

_KEY_SCALE = 20.0  # hand-set keys: the right triple scores 2 * scale, any other <= scale


def _model(task, **fields):
  return GraphKeyValueMemory(task.num_labels, task.num_relations, task.max_query_steps,
                             task.max_answer_steps, **fields)


def _load_config(name, suffix):
  return load_config(name, suffix)


def test_step_positions_rank_the_flagged_steps():
  flags = jnp.asarray([[0, 1, 1, 0, 1, 0]], jnp.float32)
  expected = np.zeros((1, 6, 3))
  expected[0, 1, 0] = expected[0, 2, 1] = expected[0, 4, 2] = 1.0
  np.testing.assert_array_equal(step_positions(flags, 3), expected)


@pytest.mark.parametrize("task, answer_from, num_hops", [
    (gt.TraversalTask(), "hop", 3),
    (gt.InferenceTask(num_labels=16), "gated", 4),
])
def test_shapes_and_padded_slots_get_no_attention(task, answer_from, num_hops):
  batch = task.sample(np.random.default_rng(0), 4)
  model = _model(task, embed_dim=16, num_hops=num_hops, answer_from=answer_from)
  params = model.init(jax.random.PRNGKey(0), batch.inputs)
  out = jax.jit(model.apply)(params, batch.inputs)
  b, t = batch.inputs.shape[:2]
  assert out.logits.shape == (b, t, task.output_size)
  assert out.hop_weights.shape == (b, num_hops, t)
  assert out.answer_gates.shape == (b, task.max_answer_steps, num_hops)
  graph_steps = batch.inputs[..., 2 * task.num_labels + task.num_relations + gt.GRAPH_FLAG] > 0
  np.testing.assert_array_equal(out.slot_mask, graph_steps)
  weights = np.asarray(out.hop_weights)
  assert np.all(weights[np.broadcast_to(~graph_steps[:, None], weights.shape)] == 0.0)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  answer_steps = batch.mask.sum(-1) > 0
  assert np.all(np.asarray(out.logits)[~answer_steps] == 0.0)
  # Each field of an answer step is a log-distribution.
  for field in np.split(np.asarray(out.logits)[answer_steps],
                        np.cumsum(task.field_sizes)[:-1], axis=-1):
    np.testing.assert_allclose(np.exp(field).sum(-1), 1.0, rtol=1e-4)
  unjitted = model.apply(params, batch.inputs)
  np.testing.assert_allclose(unjitted.logits, out.logits, rtol=1e-5, atol=1e-5)


def _hand_set_params(task, params):
  """Weights that follow the queried relations exactly (see the blocks below)."""
  n, r, q = task.num_labels, task.num_relations, task.max_query_steps
  # Query / key blocks: subject S, relation Rel, later relations F_1..F_{Q-1}, value V.
  subject, relation = np.arange(n), n + np.arange(r)
  later = [n + r * k + np.arange(r) for k in range(1, q)]
  value = n + r * q + np.arange(n)
  dim = n + r * q + n
  p = jax.tree_util.tree_map(np.zeros_like, jax.device_get(params))["params"]
  assert p["subject_key"]["kernel"].shape == (n, dim)
  p["subject_key"]["kernel"][np.arange(n), subject] = _KEY_SCALE
  p["relation_key"]["kernel"][np.arange(r), relation] = _KEY_SCALE
  p["object_value"]["kernel"][np.arange(n), value] = 1.0
  p["query_embed"][0, np.arange(n), subject] = 1.0          # start node -> S
  p["query_embed"][0, n + np.arange(r), relation] = 1.0     # first relation -> Rel
  for k in range(1, q):
    p["query_embed"][k, n + np.arange(r), later[k - 1]] = 1.0
  for hop in range(task.max_path - 1):
    update = p[f"query_update_{hop}"]["kernel"]
    update[value, subject] = 1.0                             # object just read -> next subject
    update[later[0], relation] = 1.0                         # next relation comes forward
    for k in range(1, q - 1):
      update[later[k], later[k - 1]] = 1.0
  return {"params": p}


def test_hand_set_hops_land_on_the_path_triples():
  task = gt.TraversalTask(num_labels=10, num_nodes=8, out_degree=2, relations=4, max_path=3)
  batch = task.sample(np.random.default_rng(1), 32)
  n, r = task.num_labels, task.num_relations
  model = _model(task, embed_dim=n + r * task.max_query_steps + n, num_hops=3)
  params = _hand_set_params(task, model.init(jax.random.PRNGKey(0), batch.inputs))
  out = jax.jit(model.apply)(params, batch.inputs)
  weights = np.asarray(out.hop_weights)
  for b in range(32):
    answer_steps = np.nonzero(batch.mask[b, :, 0])[0]
    for hop, step in enumerate(answer_steps):
      top = int(np.argmax(weights[b, hop]))
      row = batch.inputs[b, top]
      attended = (int(np.argmax(row[:n])), int(np.argmax(row[n:n + r])),
                  int(np.argmax(row[n + r:2 * n + r])))
      assert attended == tuple(batch.targets[b, step])
      assert weights[b, hop, top] > 0.99
  question, _, _ = gt.answers_correct(task, out.logits, batch.targets, batch.mask)
  assert bool(np.all(question))
  loss = gt.sequence_loss(task, out.logits, batch.targets, batch.mask)
  assert float(loss) < 1e-3


def test_a_short_training_run_learns_one_hop():
  """Fifty Adam steps on one-hop traversal: attention finds (start, relation)."""
  import optax
  task = gt.TraversalTask(num_labels=8, num_nodes=6, out_degree=2, relations=3, max_path=1)
  model = _model(task, embed_dim=16, num_hops=1)
  rng = np.random.default_rng(0)
  params = model.init(jax.random.PRNGKey(0), task.sample(rng, 2).inputs)
  optimizer = optax.adam(0.05)

  @jax.jit
  def step(params, opt_state, inputs, targets, mask):
    loss_fn = lambda p: gt.sequence_loss(task, model.apply(p, inputs).logits, targets, mask)
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state = optimizer.init(params)
  for _ in range(50):
    batch = task.sample(rng, 32)
    params, opt_state, loss = step(params, opt_state, batch.inputs, batch.targets, batch.mask)
  test = task.sample(np.random.default_rng(99), 200)
  question, _, _ = gt.answers_correct(task, model.apply(params, test.inputs).logits,
                                      test.targets, test.mask)
  assert float(np.mean(question)) > 0.9


def _graph_model(**fields):
  model = ml_collections.ConfigDict({"name": "kv_memory", **fields})
  return model


@pytest.mark.parametrize("fields, message", [
    ({"num_hops": 2, "answer_from": "hop"},
     r"model.num_hops=2 is less than the task's 3 answer steps"),
    ({"answer_from": "last"}, r"model.answer_from='last' is not one of \('hop', 'gated'\)"),
    ({"num_hops": 0, "answer_from": "gated"}, r"model.num_hops=0 must be >= 1"),
    ({"memory_size": 32}, r"model.memory_size is not a field of model 'kv_memory'"),
])
def test_bad_model_config_is_named(fields, message):
  with pytest.raises(ConfigError, match=message):
    build_graph_kv_memory(_graph_model(**fields), gt.TraversalTask())


def test_wrong_input_width_is_named():
  task = gt.TraversalTask(num_labels=10)
  assert task.input_size == 27
  with pytest.raises(ValueError, match=r"expects inputs \[batch, time, 27\]"):
    _model(task).init(jax.random.PRNGKey(0), jnp.zeros((2, 5, 26)))


@pytest.mark.parametrize("name", ["graph_traversal_ntm", "graph_shortest_path_ntm",
                                  "graph_inference_ntm"])
def test_configs_build_the_kv_memory(name):
  config = _load_config(name, "kv_memory")
  assert config.model.name == "kv_memory"
  task = gt.build_graph_task(dict(config.task))
  build_graph_kv_memory(config.model, task)
