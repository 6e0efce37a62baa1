"""bAbI question answering (Weston et al. 2015, v1.2): parser, vocabulary, fixed-size arrays.

File format (one story after another; ID 1 starts a new story):

    ID statement.
    ID question?<TAB>answer<TAB>supporting fact IDs

Answers of tasks 8 and 19 are comma-separated lists ("n,s"); as in the
authors' MATLAB code of end-to-end memory networks (Sukhbaatar et al. 2015)
the whole list is one answer word of the vocabulary, so every question has a
single class label.

Encoding (what the memory networks read):
  memory  `[num_examples, memory_size, sentence_length]` int32 word ids of the
          last `memory_size` statements before the question, slot 0 = the
          most recent statement (so the temporal encoding T(i) means "i
          statements ago"), nil word 0 as padding;
  memory_mask `[num_examples, memory_size]` bool, True on real statements;
  query   `[num_examples, query_length]` int32;
  answer  `[num_examples]` int32 vocabulary id of the answer word;
  task    `[num_examples]` int32 task number 1..20.

Recurrent cores (DNC, NTM, LSTM) instead read whole stories word by word
(`load_babi_stories`, `encode_stories`; see the section at the end).

This plain-numpy path is what training uses; `babi_tfds.py` wraps the same
parser in a tensorflow-datasets builder.
"""
import dataclasses
import logging
import os
import pathlib
import re
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

NIL_WORD = "<nil>"  # id 0: padding; its embedding is kept at zero.
NUM_TASKS = 20
SETTINGS = ("en", "en-10k")
TASK_NAMES = {
    1: "single-supporting-fact", 2: "two-supporting-facts", 3: "three-supporting-facts",
    4: "two-arg-relations", 5: "three-arg-relations", 6: "yes-no-questions", 7: "counting",
    8: "lists-sets", 9: "simple-negation", 10: "indefinite-knowledge",
    11: "basic-coreference", 12: "conjunction", 13: "compound-coreference",
    14: "time-reasoning", 15: "basic-deduction", 16: "basic-induction",
    17: "positional-reasoning", 18: "size-reasoning", 19: "path-finding",
    20: "agents-motivations",
}
_WORD_RE = re.compile(r"[a-z0-9]+")


class BabiFormatError(ValueError):
  """A bAbI file that does not follow the format; the message names file and line."""


class MissingTaskFileError(FileNotFoundError):
  """A task file absent from the bAbI folder; the message names the file."""


@dataclasses.dataclass(frozen=True)
class QAExample:
  """One question with the story before it.

  Attributes:
    story: statements before the question (questions excluded), oldest first,
      each a list of lower-case words.
    question: the question's words.
    answer: the answer words (several for tasks 8 and 19).
    supporting: IDs (as in the file) of the supporting statements.
    supporting_index: the same facts as indices into `story`.
    task: task number 1..20.
    source: "file:line" of the question, for messages.
  """
  story: Tuple[Tuple[str, ...], ...]
  question: Tuple[str, ...]
  answer: Tuple[str, ...]
  supporting: Tuple[int, ...]
  supporting_index: Tuple[int, ...]
  task: int
  source: str

  @property
  def answer_word(self) -> str:
    """The single vocabulary word of the answer ("n,s" for lists)."""
    return ",".join(self.answer)


def tokenize(text: str) -> List[str]:
  """Lower-case words without punctuation: "Where is Mary? " -> ["where", "is", "mary"]."""
  return _WORD_RE.findall(text.lower())


def _parse_lines(lines: Iterable[str], name: str, task: int) -> List[QAExample]:
  examples = []
  story: List[Tuple[str, ...]] = []
  id_to_index: Dict[int, int] = {}
  previous_id = 0
  for line_number, raw in enumerate(lines, start=1):
    line = raw.rstrip("\n").rstrip("\r")
    where = f"{name}:{line_number}"
    if not line.strip():
      continue
    head, sep, text = line.partition(" ")
    if not sep or not head.isdigit():
      raise BabiFormatError(f"{where}: expected 'ID text' with a numeric ID, got {line!r}")
    line_id = int(head)
    if line_id == 1:
      story, id_to_index = [], {}
    elif line_id != previous_id + 1:
      raise BabiFormatError(f"{where}: line ID {line_id} follows {previous_id}; IDs must count "
                            "up by one within a story and restart at 1")
    previous_id = line_id
    if "\t" in text:
      fields = text.split("\t")
      if len(fields) != 3:
        raise BabiFormatError(f"{where}: a question line needs 'question<TAB>answer<TAB>"
                              f"supporting IDs' (3 tab-separated fields), got {len(fields)}")
      question_text, answer_text, support_text = fields
      question = tokenize(question_text)
      answer = tuple(a.strip().lower() for a in answer_text.split(",") if a.strip())
      if not question:
        raise BabiFormatError(f"{where}: empty question")
      if not answer:
        raise BabiFormatError(f"{where}: empty answer")
      try:
        supporting = tuple(int(s) for s in support_text.split())
      except ValueError:
        raise BabiFormatError(f"{where}: supporting fact IDs must be integers, got "
                              f"{support_text!r}") from None
      unknown = [s for s in supporting if s not in id_to_index]
      if unknown:
        raise BabiFormatError(f"{where}: supporting fact ID(s) {unknown} are not statements "
                              "earlier in this story")
      examples.append(QAExample(story=tuple(story), question=tuple(question), answer=answer,
                                supporting=supporting,
                                supporting_index=tuple(id_to_index[s] for s in supporting),
                                task=task, source=where))
    else:
      words = tokenize(text)
      if not words:
        raise BabiFormatError(f"{where}: empty statement")
      id_to_index[line_id] = len(story)
      story.append(tuple(words))
  return examples


def parse_babi_file(path, task: int = 0) -> List[QAExample]:
  """Parses one bAbI file into questions with their stories.

  Args:
    path: the `.txt` file.
    task: task number stored in each example (0 when unknown).

  Raises:
    MissingTaskFileError: the file does not exist.
    BabiFormatError: a malformed line; the message is "file:line: what".
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise MissingTaskFileError(f"bAbI file {path} not found")
  with open(path, encoding="utf-8") as f:
    return _parse_lines(f, str(path), task)


def parse_babi_text(text: str, name: str = "<string>", task: int = 0) -> List[QAExample]:
  """`parse_babi_file` on a string (tests, TFDS)."""
  return _parse_lines(text.splitlines(), name, task)


def task_file(babi_dir, setting: str, task: int, split: str) -> pathlib.Path:
  """Path of `<babi_dir>/<setting>/qa<task>_<name>_<split>.txt` (may not exist)."""
  if setting not in SETTINGS:
    raise ValueError(f"bAbI setting {setting!r} is not one of {SETTINGS} (config.data.setting)")
  if task not in TASK_NAMES:
    raise ValueError(f"bAbI task {task} is not in 1..20 (config.data.tasks)")
  if split not in ("train", "test"):
    raise ValueError(f"bAbI split {split!r} must be 'train' or 'test'")
  return pathlib.Path(babi_dir) / setting / f"qa{task}_{TASK_NAMES[task]}_{split}.txt"


def find_missing_files(babi_dir, setting: str, tasks: Sequence[int]) -> Dict[int, List[str]]:
  """{task: [missing file paths]} for the tasks with a missing train or test file."""
  missing = {}
  for task in tasks:
    absent = [str(task_file(babi_dir, setting, task, split)) for split in ("train", "test")
              if not task_file(babi_dir, setting, task, split).is_file()]
    if absent:
      missing[task] = absent
  return missing


def requested_tasks(data_config, files: bool = True) -> Tuple[List[int], Dict[int, List[str]]]:
  """(tasks to train, {missing task: files}) of a config's `data` block (`tasks`, `babi_dir`,
  `setting`, `skip_missing`); `files=False` checks the task numbers only.

  Raises:
    ConfigError naming `config.data.tasks` (not bAbI tasks) or the missing files and the
    flags that get past them.
  """
  from memjax.errors import ConfigError
  requested = [int(t) for t in data_config.tasks]
  if not requested or any(t not in TASK_NAMES for t in requested):
    raise ConfigError(f"config.data.tasks={tuple(data_config.tasks)} must be bAbI tasks in 1..20")
  missing = (find_missing_files(data_config.babi_dir, data_config.setting, requested)
             if files else {})
  if missing and not data_config.skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(f)}" for t, f in missing.items())
    raise ConfigError(f"bAbI {data_config.setting} lacks {listed}; drop those tasks from "
                      "--config.data.tasks or set --config.data.skip_missing=True")
  return [t for t in requested if t not in missing], missing


def load_raw(babi_dir, setting: str, tasks: Sequence[int], skip_missing: bool = False
             ) -> Tuple[Dict[int, Tuple[List[QAExample], List[QAExample]]], Dict[int, List[str]]]:
  """Parses train and test files of `tasks`.

  Args:
    babi_dir: folder holding `en/` and `en-10k/` (config.data.babi_dir).
    setting: "en" (1k) or "en-10k".
    tasks: task numbers.
    skip_missing: when True, tasks with a missing file are logged and left
      out (config.data.skip_missing); when False they raise.

  Returns:
    ({task: (train_examples, test_examples)}, {skipped task: [missing files]}).
  """
  babi_dir = pathlib.Path(babi_dir)
  if not (babi_dir / setting).is_dir():
    raise MissingTaskFileError(f"bAbI folder {babi_dir / setting} not found (config.data.babi_dir="
                               f"{str(babi_dir)!r}, setting {setting!r}); it should hold the "
                               "v1.2 files tasks_1-20_v1-2/<setting>/qa*_train.txt")
  missing = find_missing_files(babi_dir, setting, tasks)
  if missing and not skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(files)}" for t, files in missing.items())
    raise MissingTaskFileError(
        f"bAbI {setting} lacks {listed}. Leave these tasks out of config.data.tasks or set "
        "config.data.skip_missing=True to carry on with the tasks that have data.")
  for task, files in missing.items():
    logging.warning("bAbI %s task %d skipped: missing %s", setting, task, ", ".join(files))
  data = {}
  for task in tasks:
    if task in missing:
      continue
    data[task] = (parse_babi_file(task_file(babi_dir, setting, task, "train"), task),
                  parse_babi_file(task_file(babi_dir, setting, task, "test"), task))
  return data, missing


class Vocabulary:
  """Word <-> id, with the nil word at id 0. Sorted, so it is the same on every run."""

  def __init__(self, words: Iterable[str]):
    self.words = [NIL_WORD] + sorted(set(words) - {NIL_WORD})
    self.index = {w: i for i, w in enumerate(self.words)}

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, words: Sequence[str], where: str = "") -> List[int]:
    try:
      return [self.index[w] for w in words]
    except KeyError as e:
      raise KeyError(f"word {e.args[0]!r} {('at ' + where) if where else ''} is not in the "
                     "vocabulary") from None

  @classmethod
  def from_examples(cls, examples: Iterable[QAExample]) -> "Vocabulary":
    """Story and question words, and each answer as one word ("n,s" for lists)."""
    return cls(example_words(examples, lambda ex: [ex.answer_word]))


def example_words(examples: Iterable[QAExample], answer_words) -> set:
  """The words of every statement and question, plus `answer_words(example)` of each."""
  words = set()
  for ex in examples:
    for sentence in ex.story:
      words.update(sentence)
    words.update(ex.question)
    words.update(answer_words(ex))
  return words


class EncodedSplit(NamedTuple):
  """Fixed-size arrays of one split (see module docstring for shapes)."""
  memory: np.ndarray       # [num_examples, memory_size, sentence_length] int32
  memory_mask: np.ndarray  # [num_examples, memory_size] bool
  query: np.ndarray        # [num_examples, query_length] int32
  answer: np.ndarray       # [num_examples] int32
  task: np.ndarray         # [num_examples] int32

  @property
  def num_examples(self) -> int:
    return int(self.answer.shape[0])


def encode(examples: Sequence[QAExample], vocab: Vocabulary, memory_size: int = 50,
           sentence_length: Optional[int] = None, query_length: Optional[int] = None
           ) -> EncodedSplit:
  """Encodes examples into `EncodedSplit`, keeping the last `memory_size` statements.

  Sentences longer than `sentence_length` (query_length) raise, naming the
  example; `None` means the longest in `examples`.
  """
  if sentence_length is None:
    sentence_length = max([len(s) for ex in examples for s in ex.story] + [1])
  if query_length is None:
    query_length = max([len(ex.question) for ex in examples] + [1])
  n = len(examples)
  memory = np.zeros((n, memory_size, sentence_length), np.int32)
  memory_mask = np.zeros((n, memory_size), bool)
  query = np.zeros((n, query_length), np.int32)
  answer = np.zeros((n,), np.int32)
  task = np.zeros((n,), np.int32)
  for i, ex in enumerate(examples):
    recent = ex.story[-memory_size:][::-1]  # slot 0 = most recent statement
    for slot, sentence in enumerate(recent):
      if len(sentence) > sentence_length:
        raise ValueError(f"{ex.source}: a statement has {len(sentence)} words, more than "
                         f"sentence_length={sentence_length}")
      memory[i, slot, :len(sentence)] = vocab.encode(sentence, ex.source)
      memory_mask[i, slot] = True
    if len(ex.question) > query_length:
      raise ValueError(f"{ex.source}: the question has {len(ex.question)} words, more than "
                       f"query_length={query_length}")
    query[i, :len(ex.question)] = vocab.encode(ex.question, ex.source)
    answer[i] = vocab.encode([ex.answer_word], ex.source)[0]
    task[i] = ex.task
  return EncodedSplit(memory, memory_mask, query, answer, task)


def split_validation(examples: Sequence[QAExample], fraction: float = 0.1
                     ) -> Tuple[List[QAExample], List[QAExample]]:
  """Holds out the last `fraction` of a task's training questions, as the authors' code did."""
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f"validation fraction {fraction} must be in [0, 1) "
                     "(config.data.validation_fraction)")
  num_train = int(np.floor((1.0 - fraction) * len(examples)))
  return list(examples[:num_train]), list(examples[num_train:])


@dataclasses.dataclass
class BabiData:
  """Train/validation/test arrays of one or more tasks with their shared vocabulary.

  Attributes:
    train, valid, test: `EncodedSplit`s (all tasks concatenated, task order).
    vocab: shared vocabulary (train + test words, as the authors' code).
    tasks: the tasks loaded.
    missing: {task: [missing files]} of tasks skipped.
    setting: "en" or "en-10k".
  """
  train: EncodedSplit
  valid: EncodedSplit
  test: EncodedSplit
  vocab: Vocabulary
  tasks: List[int]
  missing: Dict[int, List[str]]
  setting: str

  @property
  def sentence_length(self) -> int:
    return int(self.train.memory.shape[-1])

  @property
  def query_length(self) -> int:
    return int(self.train.query.shape[-1])

  @property
  def memory_size(self) -> int:
    return int(self.train.memory.shape[1])


def load_babi(babi_dir, setting: str = "en", tasks: Sequence[int] = tuple(range(1, 21)),
              memory_size: int = 50, validation_fraction: float = 0.1,
              skip_missing: bool = False, fit_memory_to_stories: bool = False) -> BabiData:
  """Loads, splits and encodes bAbI tasks (one vocabulary and one padding for all).

  Args:
    babi_dir: folder holding `en/` and `en-10k/` (config.data.babi_dir).
    setting: "en" (1k) or "en-10k" (config.data.setting).
    tasks: task numbers (config.data.tasks).
    memory_size: statements kept, the most recent ones (config.data.memory_size).
    validation_fraction: share of each task's training questions held out.
    skip_missing: carry on without tasks whose files are missing.
    fit_memory_to_stories: the memory gets min(memory_size, most statements
      before any training question) slots, the authors' `config.sz =
      min(50, size(story, 2))` (config.data.fit_memory_to_stories). It matters
      per task, where e.g. task 4's memory is 2 slots, not 50: null attention
      adds `memory_size - statements` empty slots to each softmax, and the
      temporal matrices and random noise's time indices span memory_size.
      Joint training on the 1k tasks keeps 50 (task 3 has longer stories).
  """
  tasks = [int(t) for t in tasks]
  if not tasks:
    raise ValueError("config.data.tasks is empty")
  raw, missing = load_raw(babi_dir, setting, tasks, skip_missing=skip_missing)
  if not raw:
    raise MissingTaskFileError(f"no bAbI task in {tasks} has data under {babi_dir}/{setting}")
  train, valid, test = [], [], []
  for task in sorted(raw):
    task_train, task_valid = split_validation(raw[task][0], validation_fraction)
    train += task_train
    valid += task_valid
    test += raw[task][1]
  vocab = Vocabulary.from_examples(train + valid + test)
  if fit_memory_to_stories:  # training file only (train + validation), as theirs
    memory_size = min(memory_size, max(len(ex.story) for ex in train + valid))
  everything = train + valid + test
  sentence_length = max(len(s) for ex in everything for s in ex.story[-memory_size:])
  query_length = max(len(ex.question) for ex in everything)
  enc = lambda exs: encode(exs, vocab, memory_size, sentence_length, query_length)
  return BabiData(train=enc(train), valid=enc(valid), test=enc(test), vocab=vocab,
                  tasks=sorted(raw), missing=missing, setting=setting)


def default_babi_dir() -> str:
  """$MEMJAX_DATA_DIR/babi/tasks_1-20_v1-2 else <repo>/../shared/data/babi/tasks_1-20_v1-2."""
  root = os.environ.get("MEMJAX_DATA_DIR",
                        str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"))
  return str(pathlib.Path(root) / "babi" / "tasks_1-20_v1-2")


# ---------------------------------------------------------------------------
# Word-level stories for recurrent cores (the DNC paper's bAbI setup).
#
# Graves et al. 2016 (Methods, "bAbI") feed a whole story one word at a time:
# statements end with ".", questions with "?", and every answer word is
# replaced by the answer token "-", at which step the network must emit that
# word. A story with several questions has several answer steps; the loss is
# only on them. The questions' answers are NOT fed back as inputs.

ANSWER_TOKEN = "-"
STATEMENT_END = "."
QUESTION_END = "?"
SPECIAL_TOKENS = (STATEMENT_END, QUESTION_END, ANSWER_TOKEN)

# One story: its questions in file order, each a `QAExample` with the
# statements before it (so the last one's `story` holds all statements that
# precede the story's last question).
Story = List[QAExample]


def _story_start_lines(lines: Iterable[str]) -> List[int]:
  """Line numbers (1-based, counted as `_parse_lines` counts them) whose ID is 1."""
  starts = []
  for line_number, raw in enumerate(lines, start=1):
    head = raw.rstrip("\n").rstrip("\r").partition(" ")[0]
    if head.isdigit() and int(head) == 1:
      starts.append(line_number)
  return starts


def _source_line(example: QAExample) -> int:
  return int(example.source.rsplit(":", 1)[1])


def group_stories(examples: Sequence[QAExample], story_starts: Sequence[int]) -> List[Story]:
  """Groups parsed questions into stories, given the line numbers where stories start.

  Args:
    examples: questions of one file, as `parse_babi_file` / `parse_babi_text` return them.
    story_starts: ascending line numbers of the file's "1 ..." lines.
  """
  import bisect
  stories: Dict[int, Story] = {}
  for example in examples:
    index = bisect.bisect_right(story_starts, _source_line(example)) - 1
    stories.setdefault(index, []).append(example)
  return [stories[k] for k in sorted(stories)]


def parse_babi_stories_text(text: str, name: str = "<string>", task: int = 0) -> List[Story]:
  """`parse_babi_text`, the questions grouped by story (tests, small fixtures)."""
  lines = text.splitlines()
  return group_stories(_parse_lines(lines, name, task), _story_start_lines(lines))


def parse_babi_stories_file(path, task: int = 0) -> List[Story]:
  """`parse_babi_file`, the questions grouped by story."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise MissingTaskFileError(f"bAbI file {path} not found")
  with open(path, encoding="utf-8") as f:
    lines = f.readlines()
  return group_stories(_parse_lines(lines, str(path), task), _story_start_lines(lines))


def story_words(story: Story) -> Tuple[List[str], List[str], List[int]]:
  """The word sequence a recurrent core reads for one story.

  Returns:
    (inputs, targets, question): equal-length lists; `inputs` are the words
    with "." / "?" after each statement / question and one "-" per answer
    word; `targets` hold the answer word at "-" steps and "" elsewhere;
    `question` the story's question number (0, 1, ...) at "-" steps, -1 elsewhere.

  Raises:
    BabiFormatError: the questions do not share one growing story.
  """
  inputs: List[str] = []
  targets: List[str] = []
  question: List[int] = []
  seen: Tuple[Tuple[str, ...], ...] = ()
  for number, example in enumerate(story):
    if example.story[:len(seen)] != seen:
      raise BabiFormatError(f"{example.source}: this question's statements do not extend "
                            "those of the story's previous question")
    for sentence in example.story[len(seen):]:
      words = list(sentence) + [STATEMENT_END]
      inputs += words
      targets += [""] * len(words)
      question += [-1] * len(words)
    seen = example.story
    words = list(example.question) + [QUESTION_END]
    inputs += words
    targets += [""] * len(words)
    question += [-1] * len(words)
    for answer in example.answer:
      inputs.append(ANSWER_TOKEN)
      targets.append(answer)
      question.append(number)
  return inputs, targets, question


def story_length(story: Story) -> int:
  """Number of words (time steps) of `story_words(story)`."""
  return len(story_words(story)[0])


def story_vocabulary(stories: Iterable[Story]) -> Vocabulary:
  """Vocabulary of story words, question words, single answer words and "." "?" "-".

  Unlike `Vocabulary.from_examples`, list answers ("n,s") are split into
  their words, since each has its own answer step.
  """
  examples = (example for story in stories for example in story)
  return Vocabulary(set(SPECIAL_TOKENS) | example_words(examples, lambda ex: ex.answer))


class EncodedStories(NamedTuple):
  """Stories as padded word-id sequences; padding is the nil word 0 with mask False.

  Attributes:
    inputs: `[num_stories, length]` int32 input word ids.
    targets: `[num_stories, length]` int32 answer word ids at answer steps, 0 elsewhere.
    mask: `[num_stories, length]` bool, True exactly on answer ("-") steps.
    question: `[num_stories, length]` int32 question number at answer steps, -1 elsewhere.
    length: `[num_stories]` int32 words per story before padding.
    num_questions: `[num_stories]` int32.
    task: `[num_stories]` int32 task number 1..20.
  """
  inputs: np.ndarray
  targets: np.ndarray
  mask: np.ndarray
  question: np.ndarray
  length: np.ndarray
  num_questions: np.ndarray
  task: np.ndarray

  @property
  def num_stories(self) -> int:
    return int(self.length.shape[0])


def encode_stories(stories: Sequence[Story], vocab: Vocabulary,
                   length: Optional[int] = None) -> EncodedStories:
  """Encodes stories padded to `length` steps (`None`: the longest story).

  Raises:
    ValueError naming the story (its first question's file:line) when one is
    longer than `length`.
  """
  sequences = [story_words(story) for story in stories]
  if length is None:
    length = max([len(s[0]) for s in sequences] + [1])
  n = len(stories)
  inputs = np.zeros((n, length), np.int32)
  targets = np.zeros((n, length), np.int32)
  mask = np.zeros((n, length), bool)
  question = np.full((n, length), -1, np.int32)
  lengths = np.zeros((n,), np.int32)
  num_questions = np.zeros((n,), np.int32)
  task = np.zeros((n,), np.int32)
  for i, (story, (words, answers, numbers)) in enumerate(zip(stories, sequences)):
    where = story[0].source
    if len(words) > length:
      raise ValueError(f"{where}: the story has {len(words)} words, more than length={length}")
    inputs[i, :len(words)] = vocab.encode(words, where)
    answer_steps = np.asarray([a != "" for a in answers], bool)
    mask[i, :len(words)] = answer_steps
    targets[i, :len(words)][answer_steps] = vocab.encode([a for a in answers if a], where)
    question[i, :len(words)] = numbers
    lengths[i] = len(words)
    num_questions[i] = len(story)
    task[i] = story[0].task
  return EncodedStories(inputs, targets, mask, question, lengths, num_questions, task)


@dataclasses.dataclass
class BabiStories:
  """Train/validation/test stories of one or more tasks with their shared vocabulary.

  Attributes:
    train, valid, test: lists of stories, all tasks, task order.
    vocab: `story_vocabulary` of every split (as `load_babi` does with its vocabulary).
    tasks: the tasks loaded.
    missing: {task: [missing files]} of tasks skipped.
    setting: "en" or "en-10k".
  """
  train: List[Story]
  valid: List[Story]
  test: List[Story]
  vocab: Vocabulary
  tasks: List[int]
  missing: Dict[int, List[str]]
  setting: str


def load_babi_stories(babi_dir, setting: str = "en", tasks: Sequence[int] = tuple(range(1, 21)),
                      validation_fraction: float = 0.1, skip_missing: bool = False
                      ) -> BabiStories:
  """Loads bAbI tasks as whole stories (for word-by-word recurrent models).

  Parsing and missing-file handling are `load_raw`'s (so `skip_missing` and
  its messages are the same as for the memory networks); the last
  `validation_fraction` of each task's training *stories* is held out.
  """
  tasks = [int(t) for t in tasks]
  if not tasks:
    raise ValueError("config.data.tasks is empty")
  raw, missing = load_raw(babi_dir, setting, tasks, skip_missing=skip_missing)
  if not raw:
    raise MissingTaskFileError(f"no bAbI task in {tasks} has data under {babi_dir}/{setting}")
  train, valid, test = [], [], []
  for task in sorted(raw):
    grouped = []
    for split, examples in zip(("train", "test"), raw[task]):
      with open(task_file(babi_dir, setting, task, split), encoding="utf-8") as f:
        grouped.append(group_stories(examples, _story_start_lines(f.readlines())))
    task_train, task_valid = split_validation(grouped[0], validation_fraction)
    train += task_train
    valid += task_valid
    test += grouped[1]
  vocab = story_vocabulary(train + valid + test)
  return BabiStories(train=train, valid=valid, test=test, vocab=vocab, tasks=sorted(raw),
                     missing=missing, setting=setting)


# ---------------------------------------------------------------------------
# Length buckets: every batch from one bucket, one compilation per bucket.

class Bucket(NamedTuple):
  """Stories padded to one length; `index` maps them back to the split's story order."""
  length: int
  stories: EncodedStories
  index: np.ndarray


def bucket_lengths(lengths: Sequence[int], buckets: Sequence[int]) -> List[int]:
  """The bucket lengths in use: those of `buckets` that hold some story, plus one for
  stories longer than them all (the longest, rounded up to a multiple of 64)."""
  lengths = np.asarray(lengths)
  used, lower = [], 0
  for bucket in buckets:
    if np.any((lengths > lower) & (lengths <= bucket)):
      used.append(int(bucket))
    lower = bucket
  longest = int(lengths.max()) if lengths.size else 0
  if longest > lower:
    used.append(int(-(-longest // 64) * 64))
  return used


def make_buckets(stories: Sequence[Story], vocab: Vocabulary,
                 buckets: Sequence[int]) -> List[Bucket]:
  """Splits `stories` by length into `Bucket`s of `bucket_lengths(...)`."""
  lengths = np.asarray([story_length(s) for s in stories], np.int64)
  out, lower = [], 0
  for length in bucket_lengths(lengths, buckets):
    index = np.nonzero((lengths > lower) & (lengths <= length))[0]
    lower = length
    if index.size:
      out.append(Bucket(length, encode_stories([stories[i] for i in index], vocab, length),
                        index))
  return out
