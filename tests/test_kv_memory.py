"""Tests for memjax.knowledge.kv_memory: the hop, soft key hashing, and hop-by-hop reads."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from memjax.knowledge import key_hashing, kv_memory
from memjax.knowledge.graph import KnowledgeGraph

_TRIPLES = [
    ("Alien", "directed_by", "Ridley"),       # 0
    ("Alien", "starred", "Weaver"),           # 1
    ("Alien", "released_in", "1979"),         # 2
    ("Ridley", "born_in", "South Shields"),   # 3
    ("Ridley", "directed", "Alien"),          # 4
    ("Weaver", "born_in", "New York"),        # 5
    ("Heat", "directed_by", "Mann"),          # 6
    ("Mann", "born_in", "Chicago"),           # 7
]
_GRAPH = KnowledgeGraph.from_named_triples(_TRIPLES)
_WORDS = ("<pad>", "where", "director", "born", "who")


def _softmax(x):
  e = np.exp(x - x.max())
  return e / e.sum()


def test_memory_hop_matches_numpy_with_mask_and_prior():
  rng = np.random.default_rng(0)
  query, keys, values = rng.normal(size=4), rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
  mask = np.array([True, True, False, True, True])
  prior = np.array([0.5, 0.1, 0.9, 0.3, 0.1])
  weights, read = kv_memory.memory_hop(jnp.asarray(query), jnp.asarray(keys), jnp.asarray(values),
                                       jnp.asarray(mask), jnp.log(jnp.asarray(prior)))
  expected = np.zeros(5)
  expected[mask] = _softmax((keys @ query + np.log(prior))[mask])
  np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(read, expected @ values, rtol=1e-5, atol=1e-6)
  # Without a prior it is the plain key-value read.
  weights, _ = kv_memory.memory_hop(jnp.asarray(query), jnp.asarray(keys), jnp.asarray(values),
                                    jnp.asarray(mask))
  expected[mask] = _softmax((keys @ query)[mask])
  np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)


def test_memory_hop_gradients():
  rng = np.random.default_rng(1)
  args = [jnp.asarray(rng.normal(size=s)) for s in ((4,), (5, 4), (5, 3))]
  mask = jnp.asarray([True, False, True, True, True])
  log_prior = jnp.asarray(rng.normal(size=5))
  read = jax.jit(lambda q, k, v, p: kv_memory.memory_hop(q, k, v, mask, p)[1])
  check_grads(read, (*args, log_prior), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_previous_hop_prior_and_entity_mass_match_numpy():
  subjects = np.array([0, 1, 1, 2, 3])
  objects = np.array([1, 2, 3, 3, 0])
  mask = np.array([True, True, True, True, False])
  weights = np.array([0.4, 0.3, 0.2, 0.1, 0.0])
  prior = kv_memory.previous_hop_prior(jnp.asarray(weights), jnp.asarray(subjects),
                                       jnp.asarray(objects), jnp.asarray(mask))
  expected = [sum(weights[j] for j in range(5) if mask[j] and objects[j] == subjects[i])
              for i in range(5)]
  np.testing.assert_allclose(prior, expected, rtol=1e-6)
  mass = kv_memory.entity_mass(jnp.asarray(weights), jnp.asarray(objects), jnp.asarray(mask))
  np.testing.assert_allclose(mass, [0.4, 0.3, 0.3, 0.3, 0.0], rtol=1e-6)


def _inputs(question_words, seed, num_hops=2, max_candidates=8):
  arrays = jax.tree_util.tree_map(jnp.asarray, _GRAPH.arrays())
  seeds = jnp.asarray([[_GRAPH.entity_id(seed), -1]], jnp.int32)
  candidates = key_hashing.batch_hash_candidates(arrays, seeds, _GRAPH.num_entities, num_hops,
                                                 max_candidates)
  words = jnp.asarray([[_WORDS.index(w) for w in question_words] + [0]], jnp.int32)
  index = candidates.indices
  return (kv_memory.KVMemoryInputs(words, seeds, arrays.subjects[index], arrays.relations[index],
                                   arrays.objects[index], candidates.mask), index[0])


def _hand_built_params(module, inputs, scale_entity=3.0, scale_relation=5.0):
  """Embeddings in three blocks [entities | relations (slot 1) | relations (slot 2)].

  "director" asks for directed_by now (slot 1), "born" for born_in after one
  hop (slot 2); R_0 moves slot 2 into slot 1 and keeps the entity block, so
  hop 2 asks for born_in of the entity hop 1 reached.
  """
  num_e, num_r = _GRAPH.num_entities, _GRAPH.num_relations
  d = num_e + 2 * num_r
  shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), inputs)["params"]
  params = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
  params["entity_embed"]["embedding"] = scale_entity * np.eye(num_e, d)
  relation = np.zeros((num_r, d))
  relation[:, num_e:num_e + num_r] = scale_relation * np.eye(num_r)
  params["relation_embed"]["embedding"] = relation
  words = np.zeros((len(_WORDS), d))
  words[_WORDS.index("director"), num_e + _GRAPH.relation_id("directed_by")] = scale_relation
  words[_WORDS.index("born"), num_e + num_r + _GRAPH.relation_id("born_in")] = scale_relation
  params["word_embed"]["embedding"] = words
  update = np.zeros((d, d))
  update[:num_e, :num_e] = np.eye(num_e)
  update[num_e + num_r:, num_e:num_e + num_r] = np.eye(num_r)
  for hop in range(module.num_hops):
    params[f"query_update_{hop}"]["kernel"] = update
  return jax.tree_util.tree_map(jnp.asarray, params)


@pytest.mark.parametrize("follow_previous_hop", [True, False])
def test_hop_by_hop_attention_lands_on_the_right_triple(follow_previous_hop):
  inputs, index = _inputs(["where", "director", "born"], "Alien")
  module = kv_memory.KeyValueMemory(_GRAPH.num_entities, _GRAPH.num_relations, len(_WORDS),
                                    embed_dim=_GRAPH.num_entities + 2 * _GRAPH.num_relations,
                                    num_hops=2, follow_previous_hop=follow_previous_hop,
                                    answer_from="last")
  params = _hand_built_params(module, inputs)
  outputs = jax.jit(module.apply)({"params": params}, inputs)
  hop_weights = np.asarray(outputs.hop_weights[0])
  # Hop 1: (Alien, directed_by, Ridley); hop 2: (Ridley, born_in, South Shields).
  assert index[np.argmax(hop_weights[0])] == 0 and hop_weights[0].max() > 0.99
  assert index[np.argmax(hop_weights[1])] == 3 and hop_weights[1].max() > 0.99
  prediction = kv_memory.predict(outputs, inputs.objects, inputs.mask)
  assert _GRAPH.entity_names[int(prediction[0])] == "South Shields"
  if follow_previous_hop:
    # Soft key hashing: hop 1 reads only Alien's triples, hop 2 only those of entities it reached.
    subjects = np.asarray(inputs.subjects[0])
    assert np.all(hop_weights[0][subjects != _GRAPH.entity_id("Alien")] == 0)
    reached = {int(o) for o, w in zip(np.asarray(inputs.objects[0]), hop_weights[0]) if w > 0}
    assert np.all(hop_weights[1][~np.isin(subjects, list(reached))] == 0)


def test_module_shapes_normalisation_and_jit_agree():
  inputs, _ = _inputs(["who", "director"], "Alien", num_hops=3, max_candidates=8)
  module = kv_memory.KeyValueMemory(_GRAPH.num_entities, _GRAPH.num_relations, len(_WORDS),
                                    embed_dim=8, num_hops=3)
  variables = jax.jit(module.init)(jax.random.PRNGKey(0), inputs)
  outputs = module.apply(variables, inputs)
  jitted = jax.jit(module.apply)(variables, inputs)
  for a, b in zip(outputs, jitted):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert outputs.hop_weights.shape == (1, 3, 8) and outputs.queries.shape == (1, 4, 8)
  np.testing.assert_allclose(jnp.sum(outputs.answer_weights, -1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(jnp.sum(outputs.hop_gates, -1), 1.0, rtol=1e-5)
  assert np.all(np.asarray(outputs.answer_weights)[~np.asarray(inputs.mask)] == 0)


def test_answer_log_likelihood_counts_every_correct_answer():
  weights = jnp.asarray([[0.5, 0.3, 0.2]])
  value = kv_memory.answer_log_likelihood(weights, jnp.asarray([[True, False, True]]))
  np.testing.assert_allclose(value, np.log([0.7]), rtol=1e-5)


def test_bad_options_name_the_config_key():
  inputs, _ = _inputs(["who"], "Alien")
  with pytest.raises(ValueError, match="model.answer_from='first'"):
    jax.eval_shape(kv_memory.KeyValueMemory(10, 5, 5, answer_from="first").init,
                   jax.random.PRNGKey(0), inputs)


# --- the KB-QA family (memjax.training.families.kbqa) -----------------------------------------

def _tiny_kbqa(config):
  config.task.update(num_films=40, num_people=40, num_directors=8, num_cities=8, num_countries=3,
                     questions_per_hop=120, max_candidates=32)
  config.train.update(num_steps=6, log_every=3, eval_every=3, checkpoint_every=3)
  return config


@pytest.mark.parametrize("field, value, message", [
    ("model.name", "transformer_xl", r"model.name='transformer_xl' is one of the segment-level "
     r"language models; experiment 'kbqa' takes key-value memories \(kv_memory\); question "
     r"readers \(lstm\)"),
    ("model.name", "kvmemory", r"model.name='kvmemory' is now 'kv_memory'"),
    ("task.num_movies", 3, r"task.num_movies is not a field of task 'synthetic_kbqa'"),
])
def test_kbqa_config_errors_name_the_key(tmp_path, field, value, message):
  from memjax.errors import ConfigError
  from memjax.training import loop
  from tests.family_configs import load_config
  config = _tiny_kbqa(load_config("kbqa_kv_memory"))
  section, key = field.split(".")
  config[section][key] = value
  with pytest.raises(ConfigError, match=message):
    loop.train_and_evaluate(config, str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("config_name", ["kbqa_kv_memory", "kbqa_lstm"])
def test_kbqa_family_trains_evaluates_and_resumes(tmp_path, config_name):
  import json
  from memjax.training import loop
  from tests.family_configs import load_config
  config = _tiny_kbqa(load_config(config_name))
  results = loop.train_and_evaluate(config, str(tmp_path))
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["steps"] == 6 and saved["num_triples"] > 100
  for split in ("valid", "test", "test_heldout"):
    assert 0.0 <= saved["final"][f"{split}_hits1_hopall"] <= 1.0
  assert results["final"] == saved["final"]
  config.train.num_steps = 9  # a relaunch resumes from step 6
  assert loop.train_and_evaluate(config, str(tmp_path))["steps"] == 9
