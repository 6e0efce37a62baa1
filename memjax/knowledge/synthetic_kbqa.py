"""An offline, seeded knowledge-base QA generator: a film graph and 1/2/3-hop questions.

The graph has typed entities (films, people, cities, countries, years, genres,
languages) and relations

    film    --directed_by / written_by--> person      (one each)
    film    --starred-->                 person       (2-4: several answers)
    film    --released_in--> year, --has_genre--> genre, --in_language--> language
    person  --born_in--> city, --born_in_year--> year
    person  --directed--> film                        (inverse of directed_by: several answers)
    city    --located_in--> country
    country --official_language--> language

Questions come from templates, each a relation path followed from one
mentioned entity ("Where was the director of {film} born?" = directed_by,
born_in); the answer set is every entity the path reaches (set semantics), so
"Who starred in ...?" has several correct answers. A (template, entity) pair
is one question and lands in exactly one split: train / valid / test share the
graph but not questions; `test_heldout` holds every question about a set of
held-out entities that no other split asks about (generalisation to unseen
entities). Some questions are lower-cased (exercising case-insensitive
linking); some names carry punctuation ("Dr. Vance", "Night: Part II") or
contain other names ("Port Ellis" inside "The Road to Port Ellis").

Everything is a pure function of `KBQAConfig.seed`.
"""
import dataclasses
import re
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from memjax.knowledge.graph import KnowledgeGraph
from memjax.knowledge.linking import EntityLinker

RELATIONS = ("directed_by", "written_by", "starred", "released_in", "has_genre", "in_language",
             "born_in", "born_in_year", "directed", "located_in", "official_language")
SPLITS = ("train", "valid", "test", "test_heldout")

# (number of hops, relation path, subject type, question text with {e} for the entity).
TEMPLATES: Tuple[Tuple[int, Tuple[str, ...], str, str], ...] = (
    (1, ("directed_by",), "film", "Who directed {e}?"),
    (1, ("written_by",), "film", "Who wrote {e}?"),
    (1, ("starred",), "film", "Who starred in {e}?"),
    (1, ("released_in",), "film", "When was {e} released?"),
    (1, ("has_genre",), "film", "What genre is {e}?"),
    (1, ("in_language",), "film", "What language is {e} in?"),
    (1, ("born_in",), "person", "Where was {e} born?"),
    (1, ("born_in_year",), "person", "In which year was {e} born?"),
    (1, ("directed",), "person", "Which films did {e} direct?"),
    (1, ("located_in",), "city", "Which country is {e} in?"),
    (1, ("official_language",), "country", "What language is spoken in {e}?"),
    (2, ("directed_by", "born_in"), "film", "Where was the director of {e} born?"),
    (2, ("directed_by", "born_in_year"), "film", "When was the director of {e} born?"),
    (2, ("written_by", "born_in"), "film", "Where was the writer of {e} born?"),
    (2, ("starred", "born_in"), "film", "Where were the actors of {e} born?"),
    (2, ("born_in", "located_in"), "person", "In which country was {e} born?"),
    (2, ("directed", "released_in"), "person", "When were the films directed by {e} released?"),
    (2, ("directed", "has_genre"), "person", "What genres are the films directed by {e}?"),
    (2, ("located_in", "official_language"), "city",
     "What language is spoken in the country of {e}?"),
    (3, ("directed_by", "born_in", "located_in"), "film",
     "In which country was the director of {e} born?"),
    (3, ("written_by", "born_in", "located_in"), "film",
     "In which country was the writer of {e} born?"),
    (3, ("starred", "born_in", "located_in"), "film",
     "In which countries were the actors of {e} born?"),
    (3, ("directed_by", "directed", "released_in"), "film",
     "When were the films by the director of {e} released?"),
    (3, ("born_in", "located_in", "official_language"), "person",
     "What language is spoken where {e} was born?"),
)

_FIRST = ("Anna", "Boris", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
          "Kira", "Lars", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Stefan", "Tara", "Viktor",
          "Wanda", "Yusuf", "Zoe", "Amir", "Bea", "Cyril", "Dora", "Emil", "Fay", "Gustav",
          "Hana", "Ivo", "Jana", "Karl", "Lena", "Marek", "Nora", "Otto", "Petra", "Quinn",
          "Rafael", "Sina", "Tomas", "Uma", "Vera", "Willem", "Xenia", "Yara", "Zeno", "Aldo")
_LAST = ("Keller", "Novak", "Ortega", "Lindqvist", "Moreau", "Tanaka", "Okafor", "Brandt",
         "Costa", "Duval", "Eriksen", "Fischer", "Gallo", "Haas", "Ivanova", "Jensen", "Kovac",
         "Larsen", "Mendes", "Nagy", "Olsen", "Petrov", "Quist", "Romano", "Silva", "Torres",
         "Urban", "Vance", "Weber", "Young", "Zhou", "Abbott", "Baker", "Crane", "Dale", "Ellis",
         "Frost", "Grant", "Hale", "Irving", "Joyce", "Knox", "Lowe", "Marsh", "North", "O'Neil",
         "Pryce", "Reyes", "Stone", "Thorne")
_TITLES = ("", "", "", "", "", "", "Dr. ", "Sir ")
_ADJECTIVES = ("Silent", "Crimson", "Broken", "Hidden", "Golden", "Frozen", "Burning", "Last",
               "Lost", "Dark", "Bright", "Endless", "Hollow", "Savage", "Quiet", "Wild", "Pale",
               "Iron", "Secret", "Distant", "Bitter", "Gentle", "Restless", "Forgotten", "Electric",
               "Velvet", "Scarlet", "Shattered", "Midnight", "Northern")
_NOUNS = ("River", "Garden", "Mirror", "Harbor", "Empire", "Winter", "Signal", "Orchard", "Storm",
          "Lantern", "Kingdom", "Voyage", "Letter", "Machine", "Forest", "Island", "Shadow",
          "Promise", "Circus", "Station", "Compass", "Desert", "Tide", "Crown", "Bridge",
          "Summer", "Witness", "Engine", "Frontier", "Harvest", "Echo", "Canyon", "Meadow",
          "Tower", "Horizon", "Legacy", "Orbit", "Paradox", "Requiem", "Sanctuary")
_CITY_ROOTS = ("Ellis", "Marlow", "Aster", "Brook", "Cadence", "Dunmore", "Everly", "Fairhaven",
               "Glen", "Halden", "Irongate", "Juniper", "Kestrel", "Lyndon", "Merrow", "Norfield",
               "Oakridge", "Pembrook", "Quarry", "Ravens", "Selby", "Thornbury", "Ulver", "Vale",
               "Westmere", "Yarrow", "Zephyr", "Ashford", "Belmont", "Corwin")
_CITY_PREFIXES = ("", "", "Port ", "New ", "Fort ", "Lake ", "San ", "North ")
_COUNTRY_SYLLABLES = ("va", "lo", "ria", "mon", "tar", "esk", "bel", "dor", "ka", "nia", "sul",
                      "vek", "ar", "is", "tan", "ora")
_GENRES = ("drama", "comedy", "thriller", "horror", "western", "musical", "documentary",
           "romance", "science fiction", "animation", "war film", "film noir")
_LANGUAGES = ("Velish", "Ostrian", "Marani", "Quellan", "Dovic", "Tessaran", "Ilvani", "Borric",
              "Sundari", "Kethish")


@dataclasses.dataclass(frozen=True)
class KBQAConfig:
  """Sizes of the synthetic graph and question set.

  Attributes:
    seed: everything is a function of it.
    num_films / num_people / num_directors / num_cities / num_countries: entity counts
      (directors are the first `num_directors` people).
    first_year / num_years: release and birth years are first_year .. first_year+num_years-1.
    questions_per_hop: questions drawn per hop count (1, 2, 3) before splitting;
      capped by the number of distinct (template, entity) pairs.
    valid_fraction / test_fraction: of the non-held-out questions.
    heldout_fraction: fraction of films and people whose questions form `test_heldout`.
    lowercase_fraction: questions written all lower case.
  """
  seed: int = 0
  num_films: int = 1800
  num_people: int = 1500
  num_directors: int = 400
  num_cities: int = 150
  num_countries: int = 25
  first_year: int = 1940
  num_years: int = 80
  questions_per_hop: int = 12000
  valid_fraction: float = 0.1
  test_fraction: float = 0.1
  heldout_fraction: float = 0.05
  lowercase_fraction: float = 0.1


class Question(NamedTuple):
  """One templated question.

  Attributes:
    text: the question.
    entity: id of the entity it is about (the gold link).
    template: index into `TEMPLATES`.
    num_hops: length of the template's relation path.
    answers: sorted entity ids the path reaches.
  """
  text: str
  entity: int
  template: int
  num_hops: int
  answers: Tuple[int, ...]


class KBQADataset(NamedTuple):
  """The graph and its questions per split (`SPLITS`)."""
  graph: KnowledgeGraph
  splits: Dict[str, List[Question]]


def _unique_names(rng: np.random.Generator, count: int, make, what: str) -> List[str]:
  names, seen, tries = [], set(), 0
  while len(names) < count:
    name = make(rng)
    tries += 1
    if tries > 50 * count + 1000:
      raise ValueError(f"cannot draw {count} distinct {what} names; lower the count")
    if name not in seen:
      seen.add(name)
      names.append(name)
  return names


def _film_name(rng):
  adjective, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS)
  form = rng.integers(6)
  if form == 0:
    return f"{adjective} {noun}"
  if form == 1:
    return f"The {noun} of {rng.choice(_CITY_ROOTS)}"
  if form == 2:
    return f"{noun}: Part {rng.choice(['II', 'III', 'IV'])}"
  if form == 3:
    return f"The Road to {rng.choice(_CITY_PREFIXES)}{rng.choice(_CITY_ROOTS)}"
  return f"The {adjective} {noun}"


def _person_name(rng):
  return f"{rng.choice(_TITLES)}{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _city_name(rng):
  return f"{rng.choice(_CITY_PREFIXES)}{rng.choice(_CITY_ROOTS)}"


def _country_name(rng):
  syllables = rng.choice(_COUNTRY_SYLLABLES, size=rng.integers(2, 4))
  return "".join(syllables).capitalize()


def build_graph(config: KBQAConfig) -> KnowledgeGraph:
  """The seeded film graph (see module docstring)."""
  if config.num_directors > config.num_people:
    raise ValueError(f"num_directors={config.num_directors} exceeds num_people={config.num_people}")
  if config.num_cities > len(_CITY_ROOTS) * len(set(_CITY_PREFIXES)):
    raise ValueError(f"num_cities={config.num_cities} exceeds the "
                     f"{len(_CITY_ROOTS) * len(set(_CITY_PREFIXES))} distinct city names")
  rng = np.random.default_rng(config.seed)
  countries = _unique_names(rng, config.num_countries, _country_name, "country")
  cities = _unique_names(rng, config.num_cities, _city_name, "city")
  people = _unique_names(rng, config.num_people, _person_name, "person")
  taken = set(countries) | set(cities) | set(people) | set(_GENRES) | set(_LANGUAGES)
  films = _unique_names(rng, config.num_films + len(taken), _film_name, "film")
  films = [f for f in films if f not in taken][:config.num_films]
  years = [str(config.first_year + i) for i in range(config.num_years)]

  types: Dict[str, str] = {}
  for names, kind in ((films, "film"), (people, "person"), (cities, "city"),
                      (countries, "country"), (years, "year"), (list(_GENRES), "genre"),
                      (list(_LANGUAGES), "language")):
    for name in names:
      types[name] = kind
  triples = []
  for country in countries:
    triples.append((country, "official_language", rng.choice(_LANGUAGES)))
  for city in cities:
    triples.append((city, "located_in", countries[rng.integers(len(countries))]))
  for person in people:
    triples.append((person, "born_in", cities[rng.integers(len(cities))]))
    triples.append((person, "born_in_year", years[rng.integers(len(years) // 2)]))
  directors = people[:config.num_directors]
  directed: Dict[str, List[str]] = {}
  for film in films:
    director = directors[rng.integers(len(directors))]
    directed.setdefault(director, []).append(film)
    cast = rng.choice(len(people), size=rng.integers(2, 5), replace=False)
    triples.append((film, "directed_by", director))
    triples.append((film, "written_by", people[rng.integers(len(people))]))
    triples.extend((film, "starred", people[i]) for i in cast)
    triples.append((film, "released_in", years[len(years) // 2 + rng.integers(len(years) // 2)]))
    triples.append((film, "has_genre", _GENRES[rng.integers(len(_GENRES))]))
    triples.append((film, "in_language", _LANGUAGES[rng.integers(len(_LANGUAGES))]))
  for director in directors:
    triples.extend((director, "directed", film) for film in directed.get(director, ()))
  return KnowledgeGraph.from_named_triples(triples, entity_types=types, relation_names=RELATIONS)


def generate(config: KBQAConfig) -> KBQADataset:
  """Builds the graph, every answerable question, and the splits."""
  graph = build_graph(config)
  rng = np.random.default_rng(config.seed + 1)
  by_type = {kind: graph.entities_of_type(kind) for kind in ("film", "person", "city", "country")}
  heldout = set()
  for kind in ("film", "person"):
    ids = by_type[kind]
    heldout.update(rng.choice(ids, size=int(round(config.heldout_fraction * len(ids))),
                              replace=False).tolist())
  pools: Dict[int, List[Tuple[int, int]]] = {1: [], 2: [], 3: []}
  for template_index, (hops, path, kind, _) in enumerate(TEMPLATES):
    relation_path = [graph.relation_id(r) for r in path]
    for entity in by_type[kind]:
      if graph.follow([entity], relation_path):
        pools[hops].append((template_index, int(entity)))
  splits: Dict[str, List[Question]] = {name: [] for name in SPLITS}
  for hops in (1, 2, 3):
    pool = pools[hops]
    order = rng.permutation(len(pool))[:config.questions_per_hop]
    regular = []
    for i in order:
      template_index, entity = pool[i]
      _, path, _, text = TEMPLATES[template_index]
      question_text = text.format(e=graph.entity_names[entity])
      if rng.random() < config.lowercase_fraction:
        question_text = question_text.lower()
      answers = tuple(sorted(graph.follow([entity], [graph.relation_id(r) for r in path])))
      question = Question(question_text, entity, template_index, hops, answers)
      (splits["test_heldout"] if entity in heldout else regular).append(question)
    num_valid = int(round(config.valid_fraction * len(regular)))
    num_test = int(round(config.test_fraction * len(regular)))
    splits["valid"].extend(regular[:num_valid])
    splits["test"].extend(regular[num_valid:num_valid + num_test])
    splits["train"].extend(regular[num_valid + num_test:])
  return KBQADataset(graph, splits)


# ---------------------------------------------------------------------------
# Turning questions into arrays.

PAD, UNKNOWN, ENTITY_TOKEN = 0, 1, 2
_RESERVED = ("<pad>", "<unk>", "<entity>")
_WORD = re.compile(r"[a-z0-9']+")


class EncodedQuestions(NamedTuple):
  """Questions as padded int arrays (numpy), leading dim = number of questions N.

  Attributes:
    words: `[N, max_words]` word ids of the question without its entity
      mentions (bag of words), PAD = 0.
    tokens: `[N, max_tokens]` the question in order, each mention replaced by
      ENTITY_TOKEN (for sequence models), PAD = 0.
    token_entities: `[N, max_tokens]` linked entity id at ENTITY_TOKEN positions, else -1.
    seed_entities: `[N, max_seeds]` linked entity ids, -1 padding.
    answers: `[N, max_answers]` answer entity ids, -1 padding.
    num_hops: `[N]` int32.
    gold_entity: `[N]` the entity the question was generated about.
  """
  words: np.ndarray
  tokens: np.ndarray
  token_entities: np.ndarray
  seed_entities: np.ndarray
  answers: np.ndarray
  num_hops: np.ndarray
  gold_entity: np.ndarray


def tokenize(text: str) -> List[str]:
  return _WORD.findall(text.lower())


def build_vocabulary(questions: Sequence[Question], linker: EntityLinker) -> Tuple[str, ...]:
  """Word vocabulary of the questions with their mentions removed; ids 0-2 are reserved."""
  words = set()
  for question in questions:
    words.update(tokenize(linker.strip_mentions(question.text, linker.link(question.text), " ")))
  return _RESERVED + tuple(sorted(words))


def encode(questions: Sequence[Question], linker: EntityLinker, vocabulary: Sequence[str],
           max_words: int = 12, max_tokens: int = 16, max_seeds: int = 2,
           max_answers: int = 16) -> EncodedQuestions:
  """Links and tokenizes questions into `EncodedQuestions`.

  Words outside `vocabulary` become UNKNOWN; longer questions, seed lists and
  answer lists are cut to the maxima (answers beyond max_answers are dropped,
  which only makes the hits@1 check stricter).
  """
  index = {word: i for i, word in enumerate(vocabulary)}
  n = len(questions)
  words = np.zeros((n, max_words), np.int32)
  tokens = np.zeros((n, max_tokens), np.int32)
  token_entities = np.full((n, max_tokens), -1, np.int32)
  seeds = np.full((n, max_seeds), -1, np.int32)
  answers = np.full((n, max_answers), -1, np.int32)
  for row, question in enumerate(questions):
    mentions = linker.link(question.text)
    ids = [m.entity_id for m in mentions][:max_seeds]
    seeds[row, :len(ids)] = ids
    bag = [index.get(w, UNKNOWN) for w in
           tokenize(linker.strip_mentions(question.text, mentions, " "))][:max_words]
    words[row, :len(bag)] = bag
    sequence, entity_at, cursor = [], [], 0
    for mention in mentions + [None]:
      end = len(question.text) if mention is None else mention.start
      for word in tokenize(question.text[cursor:end]):
        sequence.append(index.get(word, UNKNOWN))
        entity_at.append(-1)
      if mention is not None:
        sequence.append(ENTITY_TOKEN)
        entity_at.append(mention.entity_id)
        cursor = mention.end
    sequence, entity_at = sequence[:max_tokens], entity_at[:max_tokens]
    tokens[row, :len(sequence)] = sequence
    token_entities[row, :len(entity_at)] = entity_at
    answer_ids = list(question.answers)[:max_answers]
    answers[row, :len(answer_ids)] = answer_ids
  return EncodedQuestions(words, tokens, token_entities, seeds, answers,
                          np.asarray([q.num_hops for q in questions], np.int32),
                          np.asarray([q.entity for q in questions], np.int32))
