"""Tests for memjax.knowledge.graph (triple store) and memjax.knowledge.synthetic_kbqa."""
import numpy as np
import pytest

from memjax.knowledge import synthetic_kbqa
from memjax.knowledge.graph import KnowledgeGraph, UnknownEntityError, UnknownRelationError

_TRIPLES = [("Blade Runner", "directed_by", "Ridley Scott"),
            ("Alien", "directed_by", "Ridley Scott"),
            ("Ridley Scott", "born_in", "South Shields"),
            ("Blade Runner", "starred", "Harrison Ford"),
            ("Blade Runner", "starred", "Rutger Hauer")]


def _graph():
  return KnowledgeGraph.from_named_triples(_TRIPLES, entity_types={"Alien": "film"})


def test_ids_follow_first_appearance_and_round_trip():
  graph = _graph()
  assert graph.entity_names[:3] == ("Alien", "Blade Runner", "Ridley Scott")
  assert graph.relation_names == ("directed_by", "born_in", "starred")
  assert graph.num_triples == 5 and graph.triples.dtype == np.int32
  for i, triple in enumerate(_TRIPLES):
    assert graph.named_triple(i) == triple
  arrays = graph.arrays()
  np.testing.assert_array_equal(arrays.subjects, graph.triples[:, 0])
  assert graph.entity_types[graph.entity_id("Alien")] == "film"
  assert graph.entity_types[graph.entity_id("Ridley Scott")] == ""


def test_follow_is_set_semantics_over_relation_paths():
  graph = _graph()
  e, r = graph.entity_id, graph.relation_id
  assert graph.follow([e("Blade Runner")], [r("starred")]) == {e("Harrison Ford"), e("Rutger Hauer")}
  assert graph.follow([e("Alien"), e("Blade Runner")], [r("directed_by"), r("born_in")]) == {
      e("South Shields")}
  assert graph.follow([e("Harrison Ford")], [r("born_in")]) == set()


def test_unknown_entity_in_a_triple_names_it_and_the_triple():
  with pytest.raises(UnknownEntityError, match=r"triple 0 .*unknown object 'Ridley Scot'.*did you "
                                               r"mean 'Ridley Scott'"):
    KnowledgeGraph.from_named_triples([("Alien", "directed_by", "Ridley Scot")],
                                      entity_names=["Alien", "Ridley Scott"])


def test_unknown_relation_in_a_triple_names_it():
  with pytest.raises(UnknownRelationError, match=r"triple 1 .*unknown relation 'directed'"):
    KnowledgeGraph.from_named_triples(_TRIPLES[:1] + [("Alien", "directed", "Ridley Scott")],
                                      relation_names=["directed_by"])


def test_lookups_of_unknown_names_name_them_and_the_question():
  graph = _graph()
  with pytest.raises(UnknownEntityError, match=r"unknown entity 'Blade runner' in question 7.*"
                                               r"did you mean 'Blade Runner'"):
    graph.entity_id("Blade runner", context="question 7")
  with pytest.raises(UnknownRelationError, match=r"unknown relation 'acted_in'.*'starred'"):
    graph.relation_id("acted_in")


def test_id_triples_are_range_checked_and_names_unique():
  with pytest.raises(ValueError, match=r"triple 1 \[0, 0, 5\]: object entity id 5 is outside"):
    KnowledgeGraph(("a", "b"), ("r",), np.array([[0, 0, 1], [0, 0, 5]]))
  with pytest.raises(ValueError, match=r"triple 0 .*relation id 2 is outside \[0, 1\)"):
    KnowledgeGraph(("a", "b"), ("r",), np.array([[0, 2, 1]]))
  with pytest.raises(ValueError, match="entity name 'a' appears twice"):
    KnowledgeGraph(("a", "a"), ("r",), np.zeros((0, 3)))


_SMALL = synthetic_kbqa.KBQAConfig(num_films=80, num_people=70, num_directors=15, num_cities=12,
                                   num_countries=4, questions_per_hop=300, heldout_fraction=0.1)


def test_generator_is_seeded_and_typed():
  first, second = synthetic_kbqa.generate(_SMALL), synthetic_kbqa.generate(_SMALL)
  np.testing.assert_array_equal(first.graph.triples, second.graph.triples)
  assert first.splits == second.splits
  other = synthetic_kbqa.generate(synthetic_kbqa.KBQAConfig(**{**_SMALL.__dict__, "seed": 1}))
  assert other.graph.entity_names != first.graph.entity_names
  graph = first.graph
  kinds = {t: graph.entities_of_type(t).size for t in set(graph.entity_types)}
  assert kinds["film"] == 80 and kinds["person"] == 70 and kinds["city"] == 12
  assert set(graph.relation_names) == set(synthetic_kbqa.RELATIONS)
  # Every film has exactly one director; directed is its inverse.
  directed_by, directed = graph.relation_id("directed_by"), graph.relation_id("directed")
  for film in graph.entities_of_type("film"):
    (director,) = graph.objects(film, directed_by)
    assert film in graph.objects(director, directed)


def test_questions_answers_splits_and_heldout_entities():
  dataset = synthetic_kbqa.generate(_SMALL)
  graph, splits = dataset.graph, dataset.splits
  keys = {name: {(q.template, q.entity) for q in questions} for name, questions in splits.items()}
  names = list(keys)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      assert not keys[a] & keys[b], f"splits {a} and {b} share questions"
  heldout = {q.entity for q in splits["test_heldout"]}
  assert heldout and not heldout & {q.entity for n in ("train", "valid", "test") for q in splits[n]}
  all_questions = [q for qs in splits.values() for q in qs]
  assert {q.num_hops for q in all_questions} == {1, 2, 3}
  assert any(len(q.answers) > 1 for q in all_questions), "no multi-answer question"
  for q in all_questions[:200]:
    _, path, _, _ = synthetic_kbqa.TEMPLATES[q.template]
    assert set(q.answers) == graph.follow([q.entity], [graph.relation_id(r) for r in path])
    assert graph.entity_names[q.entity].lower() in q.text.lower()
