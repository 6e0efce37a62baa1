"""bAbI facts in a haystack of Shakespeare: long-context reasoning in the style of BABILong.

After BABILong (Kuratov et al., NeurIPS 2024, "BABILong: Testing the Limits of
LLMs with Long Context Reasoning-in-a-Haystack"): the statements of a bAbI
story are scattered, in story order, through unrelated text, the question
comes at the very end, and the model must answer it. Unlike BABILong (PG-19
distractors, sub-word tokens) everything here is WORD-level and the
distractor text is tiny Shakespeare, so a memory core reads one word id per
step and a haystack's length is its number of words.

One example of `length` tokens (facts F1..Fk at sorted, independently
uniform word boundaries of a contiguous Shakespeare window d_0 .. d_{D-1}):

    t:      0 ..      | s1 ..         | ..       | sk ..         | ..      | q ..        T-2  T-1
    input:  d_0 d_1 ..| F1 words "."  | d_i ..   | Fk words "."  | .. d_D-1| Q words "?"  <answer>
    target: (unscored)                                                             answer word

Only the last position (`ANSWER_MARKER`) is scored; `answers` holds its target.
`fact_starts` holds s1..sk (-1 padding), `question_start` holds q, and the
window's length D is `length - (fact tokens) - (question tokens)`, so every
example is exactly `length` tokens. All statements of the bAbI question's
story are placed, as BABILong does, not only the supporting ones, so at the
shortest lengths the haystack is almost all story. The distractor tokenizer
drops punctuation, so "." occurs only at the end of facts and "?" only at the
end of the question.

Vocabulary (`build_vocabulary`), ids in this order:
  0..4  "<pad>", "<unk>", ".", "?", "<answer>";
  then  every word of the tasks' train and test stories, questions and answers, sorted;
  then  the `num_text_words` most frequent words of the training part of the Shakespeare
        text not already in, sorted; any other distractor word becomes "<unk>".
The default 500 Shakespeare words cover about 74% of the training part's word
tokens and 69% of the held-out part's (5,000 words: 95% and 90%), so "<unk>"
is common in the haystack but never in a fact, a question or an answer.

Train and test are kept apart on both sides: split="train" draws bAbI questions
from the bAbI training file and distractors from the first 90% of the
Shakespeare word stream; split="test" draws from the bAbI test file and the last
10%, text a model trained on "train" has never read. The held-out part is
about 20,000 words; a longer window repeats it cyclically rather than reach into
the training part.

    vocab = build_vocabulary(babi_dir, text_path, tasks=(1, 2, 3))
    train = make_haystack(babi_dir, text_path, vocab, task=1, split="train", length=4096,
                          num_examples=1000, seed=0)
    train.inputs  # [1000, 4096] int32; train.answers [1000] int32

Inspect from the command line:

    python -m memjax.data.haystack --task=1 --length=1024 --num_examples=3 --show=1
"""
import argparse
import collections
import functools
import json
import os
import pathlib
import re
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from memjax.data import babi

PAD = "<pad>"                # id 0: padding (never inside a haystack, which is exactly full)
UNKNOWN = "<unk>"            # distractor words outside the vocabulary
FACT_END = "."               # ends each fact sentence
QUESTION_END = "?"           # ends the question
ANSWER_MARKER = "<answer>"   # the last input token of every example; its target is the answer
SPECIALS = (PAD, UNKNOWN, FACT_END, QUESTION_END, ANSWER_MARKER)
SPLITS = ("train", "test")
TRAIN_FRACTION = 0.9         # of the Shakespeare word stream; the rest gives test distractors

# `token_kinds` labels.
DISTRACTOR, FACT, QUESTION = 0, 1, 2

_TEXT_WORD_RE = re.compile(r"[a-z']*[a-z][a-z']*")


def text_words(text: str) -> List[str]:
  """Lower-case words of free text: runs of ASCII letters and apostrophes, the rest dropped.

  A run needs at least one letter, so a quote mark alone is no word; apostrophes inside
  stay, keeping Shakespeare's contractions whole: "O'er the hill, 'tis -- 3 miles!" ->
  ["o'er", "the", "hill", "'tis", "miles"].
  """
  return _TEXT_WORD_RE.findall(text.lower())


class HaystackVocabulary(NamedTuple):
  """Words by id (`words[i]` has id i); see the module docstring for the order.

  `size` is the number of words (`len(vocab)` counts the tuple's one field).

  Attributes:
    words: tuple of str, the specials first.
  """
  words: Tuple[str, ...]

  @property
  def size(self) -> int:
    return len(self.words)

  def index(self, word: str) -> int:
    """Id of `word`; a word outside the vocabulary gets UNKNOWN's id."""
    try:
      return self.words.index(word)
    except ValueError:
      return self.words.index(UNKNOWN)

  def lookup(self) -> Dict[str, int]:
    """{word: id}, for encoding many words (`index` scans the tuple)."""
    return {word: i for i, word in enumerate(self.words)}

  def encode(self, words: Sequence[str]) -> np.ndarray:
    """`[len(words)]` int32 ids, UNKNOWN's id for words outside the vocabulary."""
    lookup = self.lookup()
    unknown = lookup[UNKNOWN]
    return np.fromiter((lookup.get(w, unknown) for w in words), np.int32, count=len(words))

  def decode(self, ids) -> List[str]:
    """Words of an id sequence."""
    return [self.words[i] for i in np.asarray(ids).reshape(-1)]


class HaystackSet(NamedTuple):
  """Haystack examples of one task and split.

  Attributes:
    inputs: `[num_examples, length]` int32 word ids; `inputs[:, -1]` is ANSWER_MARKER's id.
    answers: `[num_examples]` int32, the answer word's id (the target at the last position).
    fact_starts: `[num_examples, max_facts]` int32 token index where each story sentence
      starts, in story order, -1 padding; `max_facts` is the most statements of any example.
    num_facts: `[num_examples]` int32 statements per example.
    question_start: `[num_examples]` int32 token index of the question's first word.
    length: tokens per example.
  """
  inputs: np.ndarray
  answers: np.ndarray
  fact_starts: np.ndarray
  num_facts: np.ndarray
  question_start: np.ndarray
  length: int


def default_text_path() -> str:
  """$MEMJAX_DATA_DIR/tinyshakespeare/input.txt else <repo>/../shared/data/tinyshakespeare/..."""
  root = os.environ.get("MEMJAX_DATA_DIR",
                        str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"))
  return str(pathlib.Path(root) / "tinyshakespeare" / "input.txt")


def _file_key(path, what: str) -> Tuple[str, int, int]:
  """(resolved path, mtime, size): a cache key that notices a rewritten file."""
  path = pathlib.Path(path).expanduser()
  if not path.is_file():
    raise FileNotFoundError(f"{what}={str(path)!r}: no such file")
  stat = path.stat()
  return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _read_words_cached(key: Tuple[str, int, int]) -> Tuple[str, ...]:
  try:
    text = pathlib.Path(key[0]).read_text(encoding="utf-8")
  except UnicodeDecodeError as error:
    raise ValueError(f"text_path={key[0]!r} is not UTF-8 text ({error})") from None
  words = tuple(text_words(text))
  if len(words) < 2:
    raise ValueError(f"text_path={key[0]!r} has {len(words)} words; a haystack needs words for "
                     "both the training and the held-out part")
  return words


def read_words(text_path) -> Tuple[str, ...]:
  """The word stream (`text_words`) of a text file, cached while the file is unchanged.

  Raises:
    FileNotFoundError naming `text_path`; ValueError for a file of fewer than 2 words.
  """
  return _read_words_cached(_file_key(text_path, "text_path"))


def text_split(words: Sequence[str], split: str) -> Sequence[str]:
  """The first TRAIN_FRACTION of a word stream (split="train") or the rest ("test")."""
  _check_split(split)
  cut = max(1, min(len(words) - 1, int(len(words) * TRAIN_FRACTION)))
  return words[:cut] if split == "train" else words[cut:]


@functools.lru_cache(maxsize=4)
def _encoded_text(key: Tuple[str, int, int], vocab_words: Tuple[str, ...],
                  split: str) -> np.ndarray:
  """The ids of one part of the text (read-only, shared between calls)."""
  ids = HaystackVocabulary(vocab_words).encode(text_split(_read_words_cached(key), split))
  ids.flags.writeable = False
  return ids


@functools.lru_cache(maxsize=16)
def _parse_cached(key: Tuple[str, int, int], task: int) -> Tuple[babi.QAExample, ...]:
  return tuple(babi.parse_babi_file(key[0], task))


def _babi_examples(babi_dir, setting: str, task: int, split: str) -> Tuple[babi.QAExample, ...]:
  """Parsed questions of one bAbI file, cached while the file is unchanged."""
  path = babi.task_file(babi_dir, setting, task, split)
  if not path.is_file():
    raise babi.MissingTaskFileError(f"bAbI file {path} not found (babi_dir={str(babi_dir)!r}, "
                                    f"setting={setting!r}, task={task}, split={split!r})")
  return _parse_cached(_file_key(path, "bAbI file"), task)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split={split!r} must be one of {SPLITS}")


def _check_task(task, setting: str) -> None:
  is_int = isinstance(task, (int, np.integer)) and not isinstance(task, bool)
  if not is_int or int(task) not in babi.TASK_NAMES:
    raise ValueError(f"task={task!r} is not a bAbI task number in 1..{babi.NUM_TASKS}")
  if setting not in babi.SETTINGS:
    raise ValueError(f"setting={setting!r} is not one of {babi.SETTINGS}")


def _check_count(name: str, value, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
  return int(value)


def build_vocabulary(babi_dir, text_path, tasks: Sequence[int] = (1, 2, 3),
                     setting: str = "en-10k", num_text_words: int = 500) -> HaystackVocabulary:
  """The shared vocabulary of haystacks of `tasks` (module docstring: order and coverage).

  Args:
    babi_dir: folder holding `en/` and `en-10k/` (`babi.default_babi_dir()`).
    text_path: the distractor text (`default_text_path()`).
    tasks: bAbI task numbers whose words (train and test files) are all in.
    setting: "en" or "en-10k".
    num_text_words: how many of the most frequent words of the text's training part join
      (ties broken alphabetically). Frequencies come from the training part only, so the
      held-out text shapes nothing of what is learnt.

  Raises:
    ValueError naming a bad argument; FileNotFoundError naming a missing file.
  """
  tasks = tuple(tasks)
  if not tasks:
    raise ValueError("tasks is empty; name the bAbI tasks whose words the vocabulary holds")
  for task in tasks:
    _check_task(task, setting)
  num_text_words = _check_count("num_text_words", num_text_words, 0)
  story_words = set()
  for task in tasks:
    for split in SPLITS:
      for example in _babi_examples(babi_dir, setting, int(task), split):
        for sentence in example.story:
          story_words.update(sentence)
        story_words.update(example.question)
        story_words.update(example.answer)
  story_words -= set(SPECIALS)
  taken = set(SPECIALS) | story_words
  counts = collections.Counter(text_split(read_words(text_path), "train"))
  ranked = sorted((w for w in counts if w not in taken), key=lambda w: (-counts[w], w))
  text_part = sorted(ranked[:num_text_words])
  return HaystackVocabulary(SPECIALS + tuple(sorted(story_words)) + tuple(text_part))


def _example_tokens(example: babi.QAExample) -> int:
  """Tokens of a story and question in a haystack: each sentence + ".", question + "?" + marker."""
  return sum(len(s) + 1 for s in example.story) + len(example.question) + 2


def _encode_example(example: babi.QAExample, lookup: Dict[str, int], task: int
                    ) -> Tuple[List[np.ndarray], np.ndarray, int]:
  """(fact sentences each ending in ".", question + "?" + ANSWER_MARKER, answer id)."""
  def ids(words):
    missing = [w for w in words if w not in lookup]
    if missing:
      raise ValueError(f"{example.source}: word {missing[0]!r} is not in the vocabulary; "
                       f"build it with build_vocabulary(tasks=...) including task {task}")
    return [lookup[w] for w in words]
  facts = [np.asarray(ids(s) + [lookup[FACT_END]], np.int32) for s in example.story]
  question = np.asarray(ids(example.question) + [lookup[QUESTION_END], lookup[ANSWER_MARKER]],
                        np.int32)
  return facts, question, ids(example.answer)[0]


def make_haystack(babi_dir, text_path, vocab: HaystackVocabulary, task: int, split: str,
                  length: int, num_examples: int, seed: int,
                  setting: str = "en-10k") -> HaystackSet:
  """`num_examples` haystacks of `length` tokens for one bAbI task and split.

  Questions are drawn from the bAbI `split` file's questions that have a one-word answer and
  whose story and question fit in `length` (the others are skipped), without replacement
  while there are enough, else with replacement. Each gets its own distractor window and fact
  positions (module docstring).

  Seeding: `np.random.default_rng` of (seed, task, split), so tasks and splits differ under
  one seed. Questions and layouts come from separate streams: at two lengths that every
  story fits, one seed draws the same questions, only the haystack around them changes.

  Raises:
    ValueError naming `task`, `split`, `setting`, `length`, `num_examples` or `seed` when bad,
      a word missing from `vocab`, or, when no story fits, the length and the shortest story's
      token count; FileNotFoundError naming a missing file.
  """
  _check_task(task, setting)
  _check_split(split)
  length = _check_count("length", length, 1)
  num_examples = _check_count("num_examples", num_examples, 1)
  seed = _check_count("seed", seed, 0)
  task = int(task)
  examples = [ex for ex in _babi_examples(babi_dir, setting, task, split) if len(ex.answer) == 1]
  if not examples:
    raise ValueError(f"task {task} ({split}) has no question with a one-word answer")
  tokens = np.asarray([_example_tokens(ex) for ex in examples])
  pool = np.nonzero(tokens <= length)[0]
  if not pool.size:
    raise ValueError(f"no story of task {task} ({split}) fits in length={length}: the shortest "
                     f"story with its question takes {int(tokens.min())} tokens")
  text = _encoded_text(_file_key(text_path, "text_path"), tuple(vocab.words), split)

  story_rng, layout_rng = [np.random.default_rng(s) for s in
                           np.random.SeedSequence([seed, task, SPLITS.index(split)]).spawn(2)]
  if pool.size == len(examples):  # index the whole file, so the choice is length-independent
    chosen = story_rng.choice(len(examples), num_examples, replace=num_examples > pool.size)
  else:
    chosen = pool[story_rng.choice(pool.size, num_examples, replace=num_examples > pool.size)]

  lookup = vocab.lookup()
  encoded = {}
  for i in np.unique(chosen):
    encoded[int(i)] = _encode_example(examples[i], lookup, task)
  max_facts = max(1, max(len(encoded[int(i)][0]) for i in chosen))
  inputs = np.empty((num_examples, length), np.int32)
  answers = np.empty((num_examples,), np.int32)
  fact_starts = np.full((num_examples, max_facts), -1, np.int32)
  num_facts = np.empty((num_examples,), np.int32)
  question_start = np.empty((num_examples,), np.int32)
  for row, i in enumerate(chosen):
    facts, question, answer = encoded[int(i)]
    fact_lengths = np.asarray([len(f) for f in facts], np.int64)
    distractors = length - int(fact_lengths.sum()) - len(question)
    if distractors <= len(text):
      start = layout_rng.integers(0, len(text) - distractors + 1)
      window = text[start:start + distractors]
    else:  # longer than the part: wrap around it rather than read the other part
      start = layout_rng.integers(0, len(text))
      window = np.take(text, np.arange(start, start + distractors), mode="wrap")
    cuts = np.sort(layout_rng.integers(0, distractors + 1, size=len(facts)))
    pieces, previous = [], 0
    for cut, fact in zip(cuts, facts):
      pieces += [window[previous:cut], fact]
      previous = cut
    pieces += [window[previous:], question]
    inputs[row] = np.concatenate(pieces)
    answers[row] = answer
    num_facts[row] = len(facts)
    fact_starts[row, :len(facts)] = cuts + np.concatenate([[0], np.cumsum(fact_lengths)[:-1]])
    question_start[row] = length - len(question)
  return HaystackSet(inputs=inputs, answers=answers, fact_starts=fact_starts,
                     num_facts=num_facts, question_start=question_start, length=length)


def token_kinds(haystack_set: HaystackSet, vocab: HaystackVocabulary) -> np.ndarray:
  """`[num_examples, length]` int8: DISTRACTOR, FACT (a story sentence and its ".") or
  QUESTION (question words, "?" and ANSWER_MARKER) per token."""
  inputs = haystack_set.inputs
  n, length = inputs.shape
  # +1 where a fact starts, -1 after each "." (only facts hold one): positive running sum
  # inside facts.
  delta = np.zeros((n, length + 1), np.int32)
  valid = haystack_set.fact_starts >= 0
  np.add.at(delta, (np.nonzero(valid)[0], haystack_set.fact_starts[valid]), 1)
  rows, columns = np.nonzero(inputs == vocab.index(FACT_END))
  np.add.at(delta, (rows, columns + 1), -1)
  kinds = (np.cumsum(delta, axis=1)[:, :length] > 0).astype(np.int8) * FACT
  kinds[np.arange(length)[None, :] >= haystack_set.question_start[:, None]] = QUESTION
  return kinds


def describe(haystack_set: HaystackSet, vocab: HaystackVocabulary) -> dict:
  """Statistics of a set (plain Python numbers, JSON-ready).

  Keys: num_examples, length; facts_mean, facts_min, facts_max (statements per example);
  fact_position_mean (mean of fact_starts / length over all facts: near 0.5 when facts are
  scattered uniformly); fact_token_fraction (tokens inside facts, their "." included);
  question_token_fraction; unknown_fraction (distractor tokens that are UNKNOWN); answers
  ({answer word: fraction of examples}, sorted by word).
  """
  kinds = token_kinds(haystack_set, vocab)
  valid = haystack_set.fact_starts >= 0
  distractor = kinds == DISTRACTOR
  unknown = (haystack_set.inputs == vocab.index(UNKNOWN)) & distractor
  words, counts = np.unique(haystack_set.answers, return_counts=True)
  total = haystack_set.answers.size
  return {
      "num_examples": int(total),
      "length": int(haystack_set.length),
      "facts_mean": float(haystack_set.num_facts.mean()),
      "facts_min": int(haystack_set.num_facts.min()),
      "facts_max": int(haystack_set.num_facts.max()),
      "fact_position_mean": float((haystack_set.fact_starts[valid] / haystack_set.length).mean()),
      "fact_token_fraction": float((kinds == FACT).mean()),
      "question_token_fraction": float((kinds == QUESTION).mean()),
      "unknown_fraction": float(unknown.sum() / max(1, distractor.sum())),
      "answers": {vocab.words[w]: float(c / total) for w, c in
                  sorted(zip(words, counts), key=lambda wc: vocab.words[wc[0]])},
  }


def render(haystack_set: HaystackSet, vocab: HaystackVocabulary, row: int,
           context: int = 6) -> str:
  """One example as text, a line per run of distractors (cut to `context` words at each end),
  fact and question, each with its token positions."""
  one = haystack_set._replace(**{name: getattr(haystack_set, name)[row:row + 1] for name in
                                 ("inputs", "answers", "fact_starts", "num_facts",
                                  "question_start")})
  kinds = token_kinds(one, vocab)[0]
  words = vocab.decode(one.inputs[0])
  boundaries = [0] + [t for t in range(1, len(kinds)) if kinds[t] != kinds[t - 1]
                      or (kinds[t] == FACT and words[t - 1] == FACT_END)] + [len(kinds)]
  lines, fact = [], 0
  for start, stop in zip(boundaries[:-1], boundaries[1:]):
    run = words[start:stop]
    if kinds[start] == DISTRACTOR:
      if len(run) > 2 * context:
        hidden = len(run) - 2 * context
        run = run[:context] + [f"... ({hidden} more word{'s' * (hidden > 1)}) ..."] + run[-context:]
      label = "text"
    elif kinds[start] == FACT:
      fact += 1
      label = f"fact {fact}"
    else:
      label = "question"
    lines.append(f"[{start:>6}:{stop:<6}] {label:>9}: {' '.join(run)}")
  lines.append(f"{'':>15} answer: {vocab.words[haystack_set.answers[row]]}")
  return "\n".join(lines)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description="Statistics and examples of bAbI haystacks.")
  parser.add_argument("--task", type=int, default=1)
  parser.add_argument("--split", default="train", choices=SPLITS)
  parser.add_argument("--length", type=int, default=1024)
  parser.add_argument("--num_examples", type=int, default=100)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--show", type=int, default=1, help="examples to print")
  parser.add_argument("--setting", default="en-10k", choices=babi.SETTINGS)
  parser.add_argument("--vocab_tasks", default="",
                      help="comma-separated tasks of the vocabulary (default: --task)")
  parser.add_argument("--num_text_words", type=int, default=500)
  parser.add_argument("--babi_dir", default=babi.default_babi_dir())
  parser.add_argument("--text_path", default=default_text_path())
  args = parser.parse_args(argv)
  tasks = [int(t) for t in args.vocab_tasks.split(",") if t.strip()] or [args.task]
  vocab = build_vocabulary(args.babi_dir, args.text_path, tasks, args.setting,
                           args.num_text_words)
  haystack_set = make_haystack(args.babi_dir, args.text_path, vocab, args.task, args.split,
                               args.length, args.num_examples, args.seed, args.setting)
  print(f"vocabulary: {vocab.size} words (tasks {tasks}, {args.setting})")
  print(json.dumps(describe(haystack_set, vocab), indent=2))
  for row in range(min(args.show, args.num_examples)):
    print(f"\nexample {row}:")
    print(render(haystack_set, vocab, row))


if __name__ == "__main__":
  main()
