"""Tests for memjax.knowledge.graph_tasks: the answers follow from the graph in the inputs."""
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.knowledge import graph_tasks as gt


def _decode(task, inputs):
  """One example's steps -> (edges, query steps, answer step indices) from the one-hots."""
  n, r = task.num_labels, task.num_relations
  flags = inputs[:, 2 * n + r:]
  def triple(row):
    pick = lambda block: int(np.argmax(block)) if block.any() else -1
    return pick(row[:n]), pick(row[n:n + r]), pick(row[n + r:2 * n + r])
  edges = [triple(row) for row, f in zip(inputs, flags) if f[gt.GRAPH_FLAG]]
  query = [triple(row) for row, f in zip(inputs, flags) if f[gt.QUERY_FLAG]]
  answer_steps = np.nonzero(flags[:, gt.ANSWER_FLAG])[0]
  return edges, query, answer_steps


def _sample(task, seed=0, batch=16):
  return task.sample(np.random.default_rng(seed), batch)


def test_traversal_answers_follow_the_queried_relations():
  task = gt.TraversalTask(num_labels=12, num_nodes=8, out_degree=2, relations=4, max_path=4)
  batch = _sample(task)
  assert batch.inputs.shape == (16, task.num_steps, task.input_size)
  assert task.num_steps == 16 + 4 + 4 and task.input_size == 2 * 12 + 4 + 3
  for b in range(16):
    edges, query, answer_steps = _decode(task, batch.inputs[b])
    assert len(edges) == 16 and len(set(edges)) == 16
    out = {(s, r): o for s, r, o in edges}
    assert len(out) == 16, "relations out of a node must be distinct"
    node = query[0][0]
    relations = [q[1] for q in query]
    assert len(answer_steps) == len(relations) == batch.lengths[b]
    for step, relation in zip(answer_steps, relations):
      expected = (node, relation, out[(node, relation)])
      assert tuple(batch.targets[b, step]) == expected
      node = expected[2]
    assert batch.mask[b].sum() == 3 * len(relations)


def test_shortest_path_is_a_unique_shortest_path():
  task = gt.ShortestPathTask(num_labels=10, num_nodes=8, out_degree=2, relations=3, max_path=4)
  batch = _sample(task, seed=1)
  for b in range(16):
    edges, ((source, relation, target),), answer_steps = _decode(task, batch.inputs[b])
    assert relation == -1
    path = [tuple(batch.targets[b, s]) for s in answer_steps]
    assert path[0][0] == source and path[-1][2] == target
    assert all(p[2] == q[0] for p, q in zip(path, path[1:]))
    assert all(p in edges for p in path)
    relabelled = {v: i for i, v in enumerate(sorted({e[0] for e in edges} | {e[2] for e in edges}))}
    compact = [(relabelled[s], r, relabelled[o]) for s, r, o in edges]
    distance, count = gt.shortest_paths(compact, relabelled[source], len(relabelled))
    assert distance[relabelled[target]] == len(path) and count[relabelled[target]] == 1


def test_inference_answer_is_the_compound_relation_chain():
  task = gt.InferenceTask(num_labels=16, max_people=16)
  batch = _sample(task, seed=2)
  names = task.relation_names
  for b in range(16):
    edges, ((person, relation, _),), (step,) = _decode(task, batch.inputs[b])
    assert names[relation] in task.compound_relations
    assert all(names[r] in gt.FAMILY_BASE_RELATIONS for _, r, _ in edges)
    frontier = {person}
    for base in gt.FAMILY_COMPOUND_RELATIONS[names[relation]]:
      frontier = {o for s, r, o in edges if s in frontier and names[r] == base}
    assert frontier == {int(batch.targets[b, step, 2])}
    np.testing.assert_array_equal(batch.mask[b, step], [0.0, 0.0, 1.0])  # only the relative


def test_family_tree_relations_are_consistent():
  sexes, triples = gt.family_tree(np.random.default_rng(3), generations=4, max_children=2,
                                  max_people=16)
  assert len(sexes) <= 16
  for s, r, o in triples:
    if r == "mother":
      assert sexes[o] == "f" and (o, "son" if sexes[s] == "m" else "daughter", s) in triples
    if r == "husband":
      assert sexes[o] == "m" and (o, "wife", s) in triples


def test_generators_are_functions_of_the_rng():
  task = gt.TraversalTask()
  a, b = _sample(task, seed=5), _sample(task, seed=5)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a.inputs, _sample(task, seed=6).inputs)


def test_loss_and_exactness_with_perfect_and_wrong_logits():
  task = gt.TraversalTask()
  batch = _sample(task, batch=4)
  sizes = task.field_sizes
  perfect = np.concatenate([10.0 * np.eye(size)[batch.targets[..., i]]
                            for i, size in enumerate(sizes)], axis=-1)
  question, step_right, step_scored = gt.answers_correct(task, jnp.asarray(perfect),
                                                         batch.targets, batch.mask)
  assert bool(question.all()) and int(step_scored.sum()) == int(batch.lengths.sum())
  assert float(gt.sequence_loss(task, jnp.asarray(perfect), batch.targets, batch.mask)) < 1e-3
  wrong = perfect.copy()
  last = np.nonzero(batch.mask[0, :, 2])[0][-1]
  wrong[0, last, -task.num_labels:] = np.roll(wrong[0, last, -task.num_labels:], 1)
  question, _, _ = gt.answers_correct(task, jnp.asarray(wrong), batch.targets, batch.mask)
  assert question.tolist() == [False, True, True, True]
  uniform = np.zeros_like(perfect)
  np.testing.assert_allclose(gt.sequence_loss(task, jnp.asarray(uniform), batch.targets, batch.mask),
                             np.mean(np.log(sizes)), rtol=1e-5)


@pytest.mark.parametrize("fields, message", [
    ({"name": "graph_walk"}, r"task.name='graph_walk' is not one of"),
    ({"name": "graph_traversal", "depth": 3}, r"task.depth is not a field of task 'graph_traversal'"),
    ({"name": "graph_traversal", "num_nodes": 20, "num_labels": 10},
     r"task.num_nodes=20 exceeds task.num_labels=10"),
    ({"name": "graph_shortest_path", "out_degree": 5, "relations": 4},
     r"task.out_degree \(5\)"),
    ({"name": "graph_inference", "compound_relations": ("second_cousin",)},
     r"unknown relation 'second_cousin'"),
])
def test_bad_task_fields_are_named(fields, message):
  with pytest.raises(ValueError, match=message):
    gt.build_graph_task(fields)


# --- the graph family (memjax.training.families.graph) ----------------------------------------

def _load_config(name, core):
  from tests.family_configs import load_config
  return load_config(name, core)


@pytest.mark.parametrize("name", ["graph_traversal_ntm", "graph_shortest_path_ntm",
                                  "graph_inference_ntm"])
@pytest.mark.parametrize("core", ["ntm", "lstm", "dnc"])
def test_configs_build_their_task_and_core(name, core):
  from memjax.cores import build_core
  config = _load_config(name, core)
  assert config.experiment == "graph"
  task = gt.build_graph_task(dict(config.task))
  build_core(dict(config.model), task.output_size)
  if core != "lstm":
    assert config.model.memory_size >= task.max_edges


def test_unknown_and_renamed_config_arguments_are_named():
  with pytest.raises(ValueError, match="unknown option 'transformer'"):
    _load_config("graph_traversal_ntm", "transformer")
  with pytest.raises(ValueError, match="'kvmemory' is now 'kv_memory'"):
    _load_config("graph_traversal_ntm", "kvmemory")


def test_the_old_experiment_name_of_graph_tasks_is_refused_with_the_new_one(tmp_path):
  from memjax.errors import ConfigError
  from memjax.training import loop
  config = _load_config("graph_traversal_ntm", "ntm")
  config.experiment = "kbqa"
  with pytest.raises(ConfigError, match="the DNC graph tasks are now config.experiment='graph'"):
    loop.train_and_evaluate(config, str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("core", ["ntm", "lstm"])
def test_graph_family_trains_and_evaluates_cores(tmp_path, core):
  import json
  from memjax.training import loop
  config = _load_config("graph_traversal_ntm", core)
  config.train.update(num_steps=4, log_every=2, eval_every=2, eval_batch_size=32, batch_size=8)
  loop.train_and_evaluate(config, str(tmp_path))
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["task"] == "graph_traversal" and saved["paper_accuracy"] == 0.988
  assert 0.0 <= saved["final"]["question_accuracy"] <= 1.0
