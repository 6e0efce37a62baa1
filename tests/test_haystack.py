"""bAbI facts in a Shakespeare haystack: exact layout on tiny files, statistics on the real data."""
import collections
import pathlib

import numpy as np
import pytest

from memjax.data import babi
from memjax.data import haystack as hs
from tests.data_paths import require_shared_data

# Two stories, four questions; the shortest story with its question is story 1's first
# question: 2 * (5 words + ".") + 3 question words + "?" + marker = 17 tokens.
_TRAIN = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary?\tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel?\thallway\t4
1 John travelled to the office.
2 Sandra went to the kitchen.
3 Mary journeyed to the garden.
4 Where is John?\toffice\t1
5 Daniel went to the kitchen.
6 Where is Sandra?\tkitchen\t2
"""
_TEST = """1 Sandra moved to the office.
2 Daniel went to the garden.
3 Where is Sandra?\toffice\t1
4 Mary went back to the kitchen.
5 Where is Mary?\tkitchen\t4
"""
_SHORTEST = 17


def _write_babi(root: pathlib.Path) -> pathlib.Path:
  """The stories above as tasks 1 and 2 (identical text, so only the seeding differs)."""
  for task in (1, 2):
    for split, text in (("train", _TRAIN), ("test", _TEST)):
      path = babi.task_file(root, "en-10k", task, split)
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text(text)
  return root


def _write_text(path: pathlib.Path, num_words: int = 3000) -> pathlib.Path:
  """Made-up words (no bAbI word among them) with capitals, punctuation and apostrophes."""
  rng = np.random.default_rng(0)
  words = [a + b + c for a in "qvxz" for b in "aeiou" for c in ("k", "'s", "mp")]
  lines, line = [], []
  for i in range(num_words):
    word = words[rng.integers(len(words))]
    line.append(word.capitalize() if i % 7 == 0 else word)
    if len(line) == 9:
      lines.append(" ".join(line) + rng.choice([".", ",", "!", "?", ";", " --"]))
      line = []
  lines.append(" ".join(line) + ".")
  path.write_text("\n".join(lines) + "\n")
  return path


@pytest.fixture
def tiny(tmp_path):
  babi_dir = _write_babi(tmp_path / "babi")
  text_path = _write_text(tmp_path / "input.txt")
  vocab = hs.build_vocabulary(babi_dir, text_path, tasks=(1,), num_text_words=1000)
  return babi_dir, text_path, vocab


def _fact_words(words, start):
  """The words of the fact starting at `start`, up to and including its "."."""
  end = words.index(hs.FACT_END, start)
  return words[start:end + 1]


def _questions(babi_dir, split):
  """{(story, question): answer} of the tiny split."""
  return {(ex.story, ex.question): ex.answer[0]
          for ex in babi.parse_babi_file(babi.task_file(babi_dir, "en-10k", 1, split), 1)}


def _find(window: np.ndarray, stream: np.ndarray) -> np.ndarray:
  """Start indices where `window` occurs contiguously in `stream`."""
  if len(window) > len(stream):
    return np.zeros((0,), np.int64)
  views = np.lib.stride_tricks.sliding_window_view(stream, len(window))
  return np.nonzero((views == window).all(axis=1))[0]


def test_text_words():
  assert hs.text_words("O'er the hill, 'tis -- 3 MILES!\n' Ay.") == [
      "o'er", "the", "hill", "'tis", "miles", "ay"]


def test_vocabulary_order(tiny):
  babi_dir, text_path, vocab = tiny
  assert vocab.words[:5] == ("<pad>", hs.UNKNOWN, ".", "?", hs.ANSWER_MARKER)
  assert vocab.index("<pad>") == 0
  babi_words = set()
  for split in ("train", "test"):
    for (story, question), answer in _questions(babi_dir, split).items():
      babi_words.update(*story, question, [answer])
  assert vocab.words[5:5 + len(babi_words)] == tuple(sorted(babi_words))
  text_part = vocab.words[5 + len(babi_words):]
  assert list(text_part) == sorted(text_part) and "qak" in text_part
  assert vocab.index("mary") == vocab.words.index("mary")
  assert vocab.index("nowhere") == vocab.index(hs.UNKNOWN) == 1
  assert hs.build_vocabulary(babi_dir, text_path, tasks=(1,), num_text_words=1000) == vocab
  small = hs.build_vocabulary(babi_dir, text_path, tasks=(1,), num_text_words=3)
  assert small.size == 5 + len(babi_words) + 3


@pytest.mark.parametrize("split", ["train", "test"])
def test_layout(tiny, split):
  babi_dir, text_path, vocab = tiny
  length = 80
  data = hs.make_haystack(babi_dir, text_path, vocab, task=1, split=split, length=length,
                          num_examples=6, seed=3)
  assert data.length == length and data.inputs.shape == (6, length)
  for array in data[:5]:
    assert array.dtype == np.int32
  np.testing.assert_array_equal(data.inputs[:, -1], vocab.index(hs.ANSWER_MARKER))
  np.testing.assert_array_equal(data.inputs[:, -2], vocab.index(hs.QUESTION_END))
  questions = _questions(babi_dir, split)
  part = vocab.encode(hs.text_split(hs.read_words(text_path), split))
  kinds = hs.token_kinds(data, vocab)
  for row in range(6):
    words = vocab.decode(data.inputs[row])
    q = data.question_start[row]
    question = tuple(words[q:-2])
    k = data.num_facts[row]
    starts = data.fact_starts[row]
    assert np.all(starts[k:] == -1) and np.all(np.diff(starts[:k]) > 0)
    facts = []
    for start in starts[:k]:
      fact = _fact_words(words, start)
      assert fact[-1] == "." and start + len(fact) <= q  # strictly before the question
      facts.append(tuple(fact[:-1]))
    # The facts are the whole story of the question, in order, and the answer is its answer.
    assert questions[(tuple(facts), question)] == vocab.words[data.answers[row]]
    # The rest, before the question, is one contiguous window of this split's text.
    assert np.all(kinds[row, q:] == hs.QUESTION) and np.all(kinds[row, :q] != hs.QUESTION)
    distractors = data.inputs[row][kinds[row] == hs.DISTRACTOR]
    assert len(distractors) == q - sum(len(f) + 1 for f in facts)
    assert hs.UNKNOWN not in vocab.decode(distractors)
    assert _find(distractors, part).size


def test_window_longer_than_the_held_out_part_wraps_inside_it(tiny):
  babi_dir, text_path, vocab = tiny
  part = vocab.encode(hs.text_split(hs.read_words(text_path), "test"))
  length = 3 * len(part)
  data = hs.make_haystack(babi_dir, text_path, vocab, 1, "test", length, 2, seed=0)
  assert data.inputs.shape == (2, length)
  distractors = data.inputs[0][hs.token_kinds(data, vocab)[0] == hs.DISTRACTOR]
  cyclic = np.concatenate([part] * (len(distractors) // len(part) + 2))
  assert _find(distractors, cyclic).size


def test_determinism_and_seeds(tiny):
  babi_dir, text_path, vocab = tiny
  make = lambda seed, task=1, length=64: hs.make_haystack(
      babi_dir, text_path, vocab, task, "train", length, 8, seed)
  first, again = make(0), make(0)
  for a, b in zip(first[:5], again[:5]):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(first.inputs, make(1).inputs)
  assert not np.array_equal(first.inputs, make(0, task=2).inputs)
  # Every story fits both lengths: one seed draws the same questions, in other haystacks.
  longer = make(0, length=256)
  np.testing.assert_array_equal(first.answers, longer.answers)
  np.testing.assert_array_equal(first.num_facts, longer.num_facts)


def test_describe_and_render(tiny):
  babi_dir, text_path, vocab = tiny
  data = hs.make_haystack(babi_dir, text_path, vocab, 1, "train", 200, 40, seed=0)
  stats = hs.describe(data, vocab)
  assert stats["num_examples"] == 40 and stats["length"] == 200
  assert 2 <= stats["facts_min"] <= stats["facts_mean"] <= stats["facts_max"] <= 4
  facts = (hs.token_kinds(data, vocab) == hs.FACT).sum()
  assert stats["fact_token_fraction"] == pytest.approx(facts / data.inputs.size)
  assert stats["unknown_fraction"] == 0.0
  assert set(stats["answers"]) <= {"bathroom", "hallway", "office", "kitchen"}
  assert sum(stats["answers"].values()) == pytest.approx(1.0)
  shown = hs.render(data, vocab, 0, context=2)
  assert "fact 1:" in shown and "more words" in shown
  assert shown.splitlines()[-1].split()[-1] == vocab.words[data.answers[0]]


def test_main_prints_statistics_and_an_example(tiny, capsys):
  babi_dir, text_path, _ = tiny
  hs.main(["--task=1", "--length=64", "--num_examples=3", "--show=1", f"--babi_dir={babi_dir}",
           f"--text_path={text_path}"])
  out = capsys.readouterr().out
  assert '"fact_position_mean"' in out and "example 0:" in out and "<answer>" in out


def test_errors(tiny, tmp_path):
  babi_dir, text_path, vocab = tiny
  make = lambda **kw: hs.make_haystack(**{**dict(
      babi_dir=babi_dir, text_path=text_path, vocab=vocab, task=1, split="train", length=64,
      num_examples=2, seed=0), **kw})
  with pytest.raises(ValueError, match=f"length=16: the shortest story .* {_SHORTEST} tokens"):
    make(length=_SHORTEST - 1)
  make(length=_SHORTEST)  # exactly full: no distractor at all
  with pytest.raises(ValueError, match="split='valid'"):
    make(split="valid")
  with pytest.raises(ValueError, match="task=21"):
    make(task=21)
  with pytest.raises(ValueError, match="seed=-1"):
    make(seed=-1)
  with pytest.raises(FileNotFoundError, match="qa3_three-supporting-facts_train.txt"):
    make(task=3)
  with pytest.raises(FileNotFoundError, match="missing.txt"):
    make(text_path=tmp_path / "missing.txt")
  other = hs.HaystackVocabulary(hs.SPECIALS + ("mary",))
  with pytest.raises(ValueError, match="not in the vocabulary.*task 1"):
    make(vocab=other)


# -- Statistics on the shared bAbI v1.2 and tiny Shakespeare ---------------------------------
# The "en" setting: the same test files as "en-10k", and 1k-question training files that
# parse in a fraction of a second.

_SETTING = "en"


@pytest.fixture(scope="module")
def shared():
  babi_dir = require_shared_data("babi/tasks_1-20_v1-2")
  text_path = require_shared_data("tinyshakespeare/input.txt")
  vocab = hs.build_vocabulary(babi_dir, text_path, tasks=(1, 2, 3), setting=_SETTING)
  return babi_dir, text_path, vocab


@pytest.mark.parametrize("task", [1, 2, 3])
def test_statistics_at_1024(shared, task):
  babi_dir, text_path, vocab = shared
  data = hs.make_haystack(babi_dir, text_path, vocab, task, "train", 1024, 300, seed=0,
                          setting=_SETTING)
  stats = hs.describe(data, vocab)
  # Answers as often as in the bAbI file itself: no story length is favoured.
  examples = babi.parse_babi_file(babi.task_file(babi_dir, _SETTING, task, "train"), task)
  counts = collections.Counter(ex.answer[0] for ex in examples)
  expected = {w: c / len(examples) for w, c in counts.items()}
  words = set(expected) | set(stats["answers"])
  distance = 0.5 * sum(abs(expected.get(w, 0.0) - stats["answers"].get(w, 0.0)) for w in words)
  assert distance < 0.1, (expected, stats["answers"])
  # Facts scattered uniformly through the haystack.
  assert 0.4 <= stats["fact_position_mean"] <= 0.6, stats
  if task == 1:
    assert stats["fact_token_fraction"] < 0.2, stats


def test_vocabulary_covers_the_distractors_at_4096(shared):
  babi_dir, text_path, _ = shared
  # The 5,000 most frequent words; the default 500 cover about three quarters.
  vocab = hs.build_vocabulary(babi_dir, text_path, tasks=(1, 2, 3), setting=_SETTING,
                              num_text_words=5000)
  data = hs.make_haystack(babi_dir, text_path, vocab, 1, "train", 4096, 20, seed=0,
                          setting=_SETTING)
  assert hs.describe(data, vocab)["unknown_fraction"] < 0.1


def test_test_distractors_come_from_the_held_out_text(shared):
  babi_dir, text_path, vocab = shared
  words = hs.read_words(text_path)
  train_part = vocab.encode(hs.text_split(words, "train"))
  test_part = vocab.encode(hs.text_split(words, "test"))
  assert len(train_part) + len(test_part) == len(words)
  assert len(test_part) == pytest.approx(0.1 * len(words), abs=2)
  data = hs.make_haystack(babi_dir, text_path, vocab, 1, "test", 1024, 5, seed=0,
                          setting=_SETTING)
  kinds = hs.token_kinds(data, vocab)
  for row in range(5):
    window = data.inputs[row][kinds[row] == hs.DISTRACTOR][:40]
    assert _find(window, test_part).size and not _find(window, train_part).size
