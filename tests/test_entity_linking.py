"""Tests for memjax.knowledge.linking: exact / case-insensitive, longest match first."""
import pytest

from memjax.knowledge.linking import EntityLinker

_NAMES = ("Rome", "Romeo", "Romeo and Juliet", "Alien", "Alien: Covenant", "Dr. No", "No",
          "Port Ellis", "The Road to Port Ellis", "Ellis", "Anna Keller", "Dr. Anna Keller",
          "O'Neil", "paris", "Paris", "Ocean's Eleven", "(500) Days of Summer", "Mr. & Mrs. Smith")
_LINKER = EntityLinker(_NAMES)


def _linked(text):
  return [_NAMES[i] for i in _LINKER.link_ids(text)]


@pytest.mark.parametrize("text, expected", [
    # Longest match first: the film wins over the city inside it, and that over 'Ellis'.
    ("Who directed The Road to Port Ellis?", ["The Road to Port Ellis"]),
    ("Which country is Port Ellis in?", ["Port Ellis"]),
    ("Where was Dr. Anna Keller born?", ["Dr. Anna Keller"]),
    ("Where was Anna Keller born?", ["Anna Keller"]),
    ("Who wrote Romeo and Juliet?", ["Romeo and Juliet"]),
    # Whole words only: no 'Rome' inside 'Romeo', no 'No' inside 'Nothing'.
    ("Was Romeo born in Rome?", ["Romeo", "Rome"]),
    ("Nothing about Romeos here", []),
    # Punctuation inside names and right after them.
    ("Who directed Alien: Covenant?", ["Alien: Covenant"]),
    ("Who directed Alien?", ["Alien"]),
    ("Dr. No's director was born where?", ["Dr. No"]),
    ("Is (500) Days of Summer a comedy?", ["(500) Days of Summer"]),
    ("Who starred in Mr. & Mrs. Smith, and where?", ["Mr. & Mrs. Smith"]),
    ("Where was O'Neil born?", ["O'Neil"]),
    # Case: exact wins over case-insensitive; lower-case questions still link.
    ("who directed the road to port ellis?", ["The Road to Port Ellis"]),
    ("Where is Paris?", ["Paris"]),
    ("where is paris?", ["paris"]),
    ("WHO DIRECTED ALIEN: COVENANT", ["Alien: Covenant"]),
    # Curly apostrophe reads as a straight one.
    ("Who starred in Ocean\u2019s Eleven?", ["Ocean's Eleven"]),
])
def test_links(text, expected):
  assert _linked(text) == expected


def test_mentions_carry_span_case_flag_and_alternatives():
  text = "where is PARIS and Port Ellis"
  first, second = _LINKER.link(text)
  assert (first.text, first.start, first.end, first.exact) == ("PARIS", 9, 14, False)
  assert sorted(_NAMES[i] for i in first.alternatives) == ["Paris", "paris"]
  assert (second.text, second.exact) == ("Port Ellis", True)
  assert text[second.start:second.end] == "Port Ellis"
  assert EntityLinker.strip_mentions(text, [first, second], "<e>") == "where is <e> and <e>"


def test_require_names_the_question_without_entities():
  with pytest.raises(ValueError, match=r"question 'Who is Bob\?' mentions no entity"):
    _LINKER.require("Who is Bob?")


def test_empty_entity_name_is_rejected():
  with pytest.raises(ValueError, match="entity 1 has an empty name"):
    EntityLinker(["a", "  "])
