"""Entity linking: find the graph entities mentioned in a question.

A mention is a span of the question equal to an entity name, either exactly or
ignoring case. Matches must not split a word: a span [i, j) is a candidate
only if it does not start or end inside an alphanumeric run, so "Rome" is not
found in "Romeo" but "Alien: Covenant" is found in "Who directed Alien: Covenant?"
and "Dr. No" in "Dr. No's director". Overlapping candidates are resolved
greedily, longest first ("The Silent River" wins over "Silent River" and
"River"); at equal length an exact-case match wins over a case-insensitive
one, then the leftmost. Curly quotes are read as straight quotes (the same
length, so spans still index the original text).

The linked entity ids seed the first hop of key hashing
(`memjax.knowledge.key_hashing`).
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

# Same-length character substitutions applied to names and questions alike.
_NORMALISE = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                            "\u00a0": " "})


class EntityMention(NamedTuple):
  """One linked mention.

  Attributes:
    entity_id: the linked entity (the exact-case one, else the lowest id among
      names equal ignoring case).
    start, end: the span `question[start:end]`.
    text: the mention as written in the question.
    exact: True when the case matched exactly.
    alternatives: every entity id whose name matches the span ignoring case
      (more than one only for names that differ only in case).
  """
  entity_id: int
  start: int
  end: int
  text: str
  exact: bool
  alternatives: Tuple[int, ...]


def _normalise(text: str) -> str:
  return text.translate(_NORMALISE)


def _is_boundary(text: str, position: int) -> bool:
  """True if a span may start or end at `position` without splitting a word."""
  if position <= 0 or position >= len(text):
    return True
  return not (text[position - 1].isalnum() and text[position].isalnum())


class EntityLinker:
  """Links entity names in free text, longest match first.

  Args:
    entity_names: the graph's entity names; id i is `entity_names[i]`.
  """

  def __init__(self, entity_names: Sequence[str]):
    self.entity_names = tuple(entity_names)
    self._exact: Dict[str, int] = {}
    self._folded: Dict[str, List[int]] = {}
    for i, name in enumerate(self.entity_names):
      normal = _normalise(name).strip()
      if not normal:
        raise ValueError(f"entity {i} has an empty name")
      self._exact.setdefault(normal, i)
      self._folded.setdefault(normal.casefold(), []).append(i)
    # Spans are cut at the names' own lengths, so a name whose case-folded form
    # changes length ('Straße' / 'STRASSE') only links in its own spelling.
    self._lengths = sorted({len(name) for name in self._exact}, reverse=True)

  def _candidates(self, text: str) -> List[Tuple[int, int, bool, int, Tuple[int, ...]]]:
    normal = _normalise(text)
    starts = [i for i in range(len(normal)) if _is_boundary(normal, i) and not normal[i].isspace()]
    found = []
    for start in starts:
      for length in self._lengths:
        end = start + length
        if end > len(normal) or not _is_boundary(normal, end):
          continue
        span = normal[start:end]
        exact_id = self._exact.get(span)
        folded = self._folded.get(span.casefold())
        if exact_id is not None:
          found.append((start, end, True, exact_id, tuple(folded)))
        elif folded:
          found.append((start, end, False, folded[0], tuple(folded)))
    return found

  def link(self, text: str) -> List[EntityMention]:
    """All non-overlapping mentions in `text`, in reading order.

    Greedy: longest span first, exact case before case-insensitive, then leftmost.
    """
    found = self._candidates(text)
    found.sort(key=lambda c: (-(c[1] - c[0]), not c[2], c[0]))
    taken = [False] * (len(text) + 1)
    mentions = []
    for start, end, exact, entity_id, alternatives in found:
      if any(taken[start:end]):
        continue
      for i in range(start, end):
        taken[i] = True
      mentions.append(EntityMention(entity_id, start, end, text[start:end], exact, alternatives))
    mentions.sort(key=lambda m: m.start)
    return mentions

  def link_ids(self, text: str) -> List[int]:
    """Entity ids of `link(text)`, in reading order."""
    return [m.entity_id for m in self.link(text)]

  def require(self, text: str, context: str = "question") -> List[EntityMention]:
    """`link(text)`, but raises `ValueError` naming the text when nothing links."""
    mentions = self.link(text)
    if not mentions:
      raise ValueError(f"{context} {text!r} mentions no entity of the graph "
                       f"({len(self.entity_names)} entity names; matching is exact or "
                       "case-insensitive on whole words)")
    return mentions

  @staticmethod
  def strip_mentions(text: str, mentions: Sequence[EntityMention],
                     placeholder: str = "") -> str:
    """`text` with every mention span replaced by `placeholder`."""
    pieces, cursor = [], 0
    for mention in sorted(mentions, key=lambda m: m.start):
      pieces.append(text[cursor:mention.start])
      pieces.append(placeholder)
      cursor = mention.end
    pieces.append(text[cursor:])
    return "".join(pieces)
