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

Training reads the text files with this parser (`config.data.source="files"`),
or the same questions through the `babi` tensorflow-datasets builder of
`babi_tfds.py` (`"tfds"`); everything after the questions is shared.
"""
import dataclasses
import logging
import math
import os
import pathlib
import re
import unicodedata
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from memjax.errors import ConfigError

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
_ID_RE = re.compile(r"[0-9]+")
_ANSWER_RE = re.compile(r"[a-z0-9]+(,[a-z0-9]+)*")
# ASCII control characters other than the tab (a file's "\r\n" is stripped before the check).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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
    story_line: line number of its story's first line ("1 ..."): the questions of one
      story share it, so stories can be regrouped from questions alone.
  """
  story: Tuple[Tuple[str, ...], ...]
  question: Tuple[str, ...]
  answer: Tuple[str, ...]
  supporting: Tuple[int, ...]
  supporting_index: Tuple[int, ...]
  task: int
  source: str
  story_line: int = 0

  @property
  def answer_word(self) -> str:
    """The single vocabulary word of the answer ("n,s" for lists)."""
    return ",".join(self.answer)


def tokenize(text: str) -> List[str]:
  """Lower-case words without punctuation: "Where is Mary? " -> ["where", "is", "mary"]."""
  return _WORD_RE.findall(text.lower())


def _shown(line: str, limit: int = 100) -> str:
  """`line` quoted for a one-line message, cut at `limit` characters (a binary file's "line"
  can be megabytes)."""
  return repr(line) if len(line) <= limit else f"{line[:limit]!r}... ({len(line)} characters)"


def _check_characters(line: str, where: str) -> None:
  """Refuses characters the tokenizer would silently drop from a word, or that no text holds.

  `tokenize` keeps [a-z0-9] runs; punctuation and spaces separate words, but a
  letter such as "é" would cut "café" into "caf", and a control character
  means the file is not text.
  """
  bad = _CONTROL_RE.search(line)
  if bad:
    raise BabiFormatError(f"{where}: control character U+{ord(bad.group()):04X} at column "
                          f"{bad.start() + 1}; a bAbI line is 'ID text' in plain text")
  if line.isascii():
    return
  for column, char in enumerate(line, start=1):
    if ord(char) < 128:
      continue
    if char.isalnum():
      raise BabiFormatError(f"{where}: character {char!r} (U+{ord(char):04X}) at column "
                            f"{column} is not a-z, A-Z or 0-9, which the tokenizer would drop "
                            "from its word; bAbI en text is ASCII")
    if unicodedata.category(char).startswith("C"):
      raise BabiFormatError(f"{where}: control character U+{ord(char):04X} at column "
                            f"{column}; a bAbI line is 'ID text' in plain text")


def _parse_question(text: str, where: str, line: str) -> Tuple[Tuple[str, ...], Tuple[str, ...],
                                                                 Tuple[int, ...]]:
  """(question words, answer words, supporting IDs) of `question?<TAB>answer<TAB>IDs`."""
  fields = text.split("\t")
  if len(fields) == 1:
    raise BabiFormatError(f"{where}: a question (a line with '?') must read 'ID question?<TAB>"
                          f"answer<TAB>supporting fact IDs' but has no tab (were the tabs "
                          f"turned into spaces?): {_shown(line)}")
  if len(fields) != 3:
    raise BabiFormatError(f"{where}: a question line needs 'question?<TAB>answer<TAB>"
                          f"supporting IDs' (3 tab-separated fields), got {len(fields)}: "
                          f"{_shown(line)}")
  question_text, answer_text, support_text = fields
  if not question_text.rstrip().endswith("?") or question_text.count("?") != 1:
    raise BabiFormatError(f"{where}: the text before the first tab, {question_text!r}, must be "
                          "one question ending with '?'")
  question = tuple(tokenize(question_text))
  if not question:
    raise BabiFormatError(f"{where}: empty question")
  answer_text = answer_text.strip().lower()
  if not answer_text:
    raise BabiFormatError(f"{where}: empty answer")
  if not _ANSWER_RE.fullmatch(answer_text):
    raise BabiFormatError(f"{where}: the answer {fields[1]!r} must be one word or comma-"
                          "separated words of a-z, 0-9 (e.g. 'kitchen' or 'n,s')")
  ids = support_text.split()
  if not ids:
    raise BabiFormatError(f"{where}: a question needs its supporting fact IDs after the "
                          "second tab, got none")
  if not all(_ID_RE.fullmatch(i) for i in ids):
    raise BabiFormatError(f"{where}: supporting fact IDs must be integers separated by "
                          f"spaces, got {support_text!r}")
  return question, tuple(answer_text.split(",")), tuple(int(i) for i in ids)


def _parse_lines(lines: Iterable[str], name: str, task: int) -> List[QAExample]:
  """Questions of one file's lines, refusing (file:line, what was expected) any line that is not
  `ID statement` or `ID question?<TAB>answer<TAB>supporting IDs`, IDs counting 1, 2, ... within
  each story, and every story ending with a question."""
  examples = []
  story: List[Tuple[str, ...]] = []
  id_to_index: Dict[int, int] = {}
  previous_id = 0
  story_line = 0
  # First and last line of statements after the story's last question: none may be left over.
  unasked: Optional[Tuple[int, int]] = None

  def refuse_unasked():
    if unasked is not None:
      raise BabiFormatError(
          f"{name}:{unasked[0]}: the statements of lines {unasked[0]}-{unasked[1]} end a story "
          "with no question after them; every story ends with a question (is the file cut "
          "short?)")

  for line_number, raw in enumerate(lines, start=1):
    line = raw.rstrip("\n").rstrip("\r")
    where = f"{name}:{line_number}"
    if not line.strip():
      continue
    _check_characters(line, where)
    head, sep, text = line.partition(" ")
    if not sep or not _ID_RE.fullmatch(head):
      raise BabiFormatError(f"{where}: expected 'ID text' with a numeric ID (digits, then a "
                            f"space), got {_shown(line)}")
    line_id = int(head)
    if line_id == 1:
      refuse_unasked()
      story, id_to_index, story_line = [], {}, line_number
    elif line_id != previous_id + 1:
      raise BabiFormatError(f"{where}: line ID {line_id} follows {previous_id}; IDs must count "
                            "up by one within a story and restart at 1")
    previous_id = line_id
    if "\t" in text or "?" in text:
      question, answer, supporting = _parse_question(text, where, line)
      unknown = [s for s in supporting if s not in id_to_index]
      if unknown:
        raise BabiFormatError(f"{where}: supporting fact ID(s) {unknown} are not statements "
                              "earlier in this story")
      examples.append(QAExample(story=tuple(story), question=question, answer=answer,
                                supporting=supporting,
                                supporting_index=tuple(id_to_index[s] for s in supporting),
                                task=task, source=where, story_line=story_line))
      unasked = None
    else:
      words = tokenize(text)
      if not words:
        raise BabiFormatError(f"{where}: empty statement")
      id_to_index[line_id] = len(story)
      story.append(tuple(words))
      unasked = (unasked[0] if unasked else line_number, line_number)
  if not examples:
    raise BabiFormatError(f"{name} has no questions (a bAbI file holds stories, each ending "
                          "with 'ID question?<TAB>answer<TAB>supporting fact IDs')")
  refuse_unasked()
  return examples


def read_lines(path) -> List[str]:
  """The lines of a UTF-8 text file (split at "\n" only, so that line numbers are an editor's).

  Raises:
    MissingTaskFileError: the file does not exist.
    BabiFormatError: "file:line: byte 0x.. at column .. is not UTF-8".
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise MissingTaskFileError(f"bAbI file {path} not found")
  data = path.read_bytes()
  try:
    return data.decode("utf-8").split("\n")
  except UnicodeDecodeError as error:
    line_number = data.count(b"\n", 0, error.start) + 1
    column = error.start - data.rfind(b"\n", 0, error.start)
    raise BabiFormatError(f"{path}:{line_number}: byte 0x{data[error.start]:02x} at column "
                          f"{column} is not UTF-8 ({error.reason}); bAbI files are UTF-8 "
                          "text") from None


def parse_babi_file(path, task: int = 0) -> List[QAExample]:
  """Parses one bAbI file into questions with their stories.

  Args:
    path: the `.txt` file.
    task: task number stored in each example (0 when unknown).

  Raises:
    MissingTaskFileError: the file does not exist.
    BabiFormatError: a malformed line ("file:line: what was expected"), a byte that is not
      UTF-8, or a file without questions ("FILE has no questions").
  """
  return _parse_lines(read_lines(path), str(path), task)


def parse_babi_text(text: str, name: str = "<string>", task: int = 0) -> List[QAExample]:
  """`parse_babi_file` on a string (tests, TFDS)."""
  return _parse_lines(text.split("\n"), name, task)


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


def check_folder(babi_dir, setting: str, error=ConfigError) -> pathlib.Path:
  """`<babi_dir>/<setting>` if it is a folder, else `error` naming the folder to set.

  A wrong `babi_dir` is one mistake, said once, not as every task's missing files.
  """
  babi_dir = pathlib.Path(babi_dir)
  if not babi_dir.is_dir():
    raise error(f"bAbI folder not found: {babi_dir} (set config.data.babi_dir to the folder "
                "holding en/ and en-10k/, tasks_1-20_v1-2 of the v1.2 download)")
  if not (babi_dir / setting).is_dir():
    raise error(f"bAbI folder not found: {babi_dir / setting} (config.data.babi_dir="
                f"{str(babi_dir)!r} has no {setting}/ for config.data.setting={setting!r}; set "
                "config.data.babi_dir to the folder holding en/ and en-10k/)")
  return babi_dir / setting


def requested_tasks(data_config, files: bool = True) -> Tuple[List[int], Dict[int, List[str]]]:
  """(tasks to train, {missing task: files}) of a config's `data` block (`tasks`, `babi_dir`,
  `setting`, `skip_missing`); `files=False` checks the task numbers only.

  Raises:
    ConfigError naming `config.data.tasks` (not bAbI tasks, or one twice), the bAbI folder
    (`config.data.babi_dir`), or the missing files and the flags that get past them.
  """
  tasks = tuple(data_config.tasks) if isinstance(data_config.tasks, (list, tuple)) else (
      data_config.tasks,)
  if (not tasks or any(isinstance(t, bool) or not isinstance(t, int) or t not in TASK_NAMES
                       for t in tasks)):
    raise ConfigError(f"config.data.tasks={tasks} must be bAbI tasks in 1..20")
  requested = [int(t) for t in tasks]
  if len(set(requested)) != len(requested):
    raise ConfigError(f"config.data.tasks={tasks} names a task twice")
  missing = {}
  if files:
    check_folder(data_config.babi_dir, data_config.setting)
    missing = find_missing_files(data_config.babi_dir, data_config.setting, requested)
  if missing and not data_config.skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(f)}" for t, f in missing.items())
    raise ConfigError(f"bAbI {data_config.setting} lacks {listed}; drop those tasks from "
                      "--config.data.tasks or set --config.data.skip_missing=True")
  return [t for t in requested if t not in missing], missing


def tasks_without_files(babi_dir, setting: str, tasks: Sequence[int], skip_missing: bool
                        ) -> Dict[int, List[str]]:
  """{task: [missing files]} of `tasks`, logged, when `skip_missing`; else none may be missing.

  Raises:
    MissingTaskFileError: no such folder, or missing files (without `skip_missing`).
  """
  check_folder(babi_dir, setting, MissingTaskFileError)
  missing = find_missing_files(babi_dir, setting, tasks)
  if missing and not skip_missing:
    listed = "; ".join(f"task {t}: {', '.join(files)}" for t, files in missing.items())
    raise MissingTaskFileError(
        f"bAbI {setting} lacks {listed}. Leave these tasks out of config.data.tasks or set "
        "config.data.skip_missing=True to carry on with the tasks that have data.")
  for task, files in missing.items():
    logging.warning("bAbI %s task %d skipped: missing %s", setting, task, ", ".join(files))
  return missing


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

  Raises:
    MissingTaskFileError: no such folder, or missing files (without `skip_missing`).
    BabiFormatError: a malformed file (`parse_babi_file`), one without questions included.
  """
  babi_dir = pathlib.Path(babi_dir)
  missing = tasks_without_files(babi_dir, setting, tasks, skip_missing)
  data = {}
  for task in tasks:
    if task in missing:
      continue
    data[task] = (parse_babi_file(task_file(babi_dir, setting, task, "train"), task),
                  parse_babi_file(task_file(babi_dir, setting, task, "test"), task))
  return data, missing


SOURCES = ("files", "tfds")


def load_raw_from(source: str, babi_dir, setting: str, tasks: Sequence[int],
                  skip_missing: bool = False, tfds_data_dir: str = ""):
  """`load_raw` from the text files (`source="files"`) or through the `babi` TFDS builder
  (`"tfds"`, config.data.source): the same questions, in the same order."""
  if source == "files":
    return load_raw(babi_dir, setting, tasks, skip_missing)
  if source == "tfds":
    from memjax.data import babi_tfds  # tensorflow_datasets is slow to import: only when asked
    return babi_tfds.load_raw(babi_dir, setting, tasks, skip_missing, tfds_data_dir)
  raise ConfigError(f"config.data.source={source!r} is not one of {SOURCES}")


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


def check_validation_fraction(fraction) -> float:
  """`fraction` if in (0, 1), else a ConfigError naming config.data.validation_fraction.

  0 is refused: the best of several seeds is chosen by validation error, and
  an empty validation split has none (NaN).
  """
  try:
    value = float(fraction)
  except (TypeError, ValueError):
    value = math.nan
  if not 0.0 < value < 1.0:  # also refuses NaN
    raise ConfigError(f"config.data.validation_fraction={fraction!r} must be in (0, 1): the "
                      "share of each task's training questions held out to choose the best "
                      "seed")
  return value


def split_validation(examples: Sequence, fraction: float = 0.1, source: str = ""
                     ) -> Tuple[list, list]:
  """Holds out the last `fraction` of a task's training questions, as the authors' code did.

  Args:
    examples: a task's training questions (or stories), in file order.
    fraction: in (0, 1) (config.data.validation_fraction).
    source: the training file, named when either part would be empty.

  Raises:
    ConfigError: `fraction` out of range, or a part left empty.
  """
  fraction = check_validation_fraction(fraction)
  num_train = int(np.floor((1.0 - fraction) * len(examples)))
  train, valid = list(examples[:num_train]), list(examples[num_train:])
  if not train or not valid:
    raise ConfigError(f"{source or 'a training file'}: its {len(examples)} training items leave "
                      f"no {'training' if not train else 'validation'} ones with "
                      f"config.data.validation_fraction={fraction}")
  return train, valid


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
              skip_missing: bool = False, fit_memory_to_stories: bool = False,
              source: str = "files", tfds_data_dir: str = "") -> BabiData:
  """Loads, splits and encodes bAbI tasks (one vocabulary and one padding for all).

  Args:
    babi_dir: folder holding `en/` and `en-10k/` (config.data.babi_dir).
    setting: "en" (1k) or "en-10k" (config.data.setting).
    tasks: task numbers (config.data.tasks).
    memory_size: statements kept, the most recent ones (config.data.memory_size).
    validation_fraction: share of each task's training questions held out, in (0, 1).
    skip_missing: carry on without tasks whose files are missing.
    fit_memory_to_stories: the memory gets min(memory_size, most statements
      before any training question) slots, the authors' `config.sz =
      min(50, size(story, 2))` (config.data.fit_memory_to_stories). It matters
      per task, where e.g. task 4's memory is 2 slots, not 50: null attention
      adds `memory_size - statements` empty slots to each softmax, and the
      temporal matrices and random noise's time indices span memory_size.
      Joint training on the 1k tasks keeps 50 (task 3 has longer stories).
    source: "files" reads the text files; "tfds" reads the same questions through the
      `babi` tensorflow-datasets builder (`babi_tfds.load_raw`), prepared once under
      `tfds_data_dir` ("": TFDS's default). Both give identical arrays.
  """
  tasks = [int(t) for t in tasks]
  if not tasks:
    raise ValueError("config.data.tasks is empty")
  check_validation_fraction(validation_fraction)  # before any file is read
  raw, missing = load_raw_from(source, babi_dir, setting, tasks, skip_missing, tfds_data_dir)
  if not raw:
    raise MissingTaskFileError(f"no bAbI task in {tasks} has data under {babi_dir}/{setting}")
  train, valid, test = [], [], []
  for task in sorted(raw):
    task_train, task_valid = split_validation(raw[task][0], validation_fraction,
                                              str(task_file(babi_dir, setting, task, "train")))
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


def group_stories(examples: Sequence[QAExample]) -> List[Story]:
  """Groups one file's parsed questions into stories (by `story_line`), in file order."""
  stories: Dict[int, Story] = {}
  for example in examples:
    stories.setdefault(example.story_line, []).append(example)
  return [stories[k] for k in sorted(stories)]


def parse_babi_stories_text(text: str, name: str = "<string>", task: int = 0) -> List[Story]:
  """`parse_babi_text`, the questions grouped by story (tests, small fixtures)."""
  return group_stories(parse_babi_text(text, name, task))


def parse_babi_stories_file(path, task: int = 0) -> List[Story]:
  """`parse_babi_file`, the questions grouped by story."""
  return group_stories(parse_babi_file(path, task))


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
                      validation_fraction: float = 0.1, skip_missing: bool = False,
                      source: str = "files", tfds_data_dir: str = "") -> BabiStories:
  """Loads bAbI tasks as whole stories (for word-by-word recurrent models).

  Parsing and missing-file handling are `load_raw`'s (so `skip_missing` and
  its messages are the same as for the memory networks), as is `source`; the
  last `validation_fraction` of each task's training *stories* is held out.
  """
  tasks = [int(t) for t in tasks]
  if not tasks:
    raise ValueError("config.data.tasks is empty")
  check_validation_fraction(validation_fraction)  # before any file is read
  raw, missing = load_raw_from(source, babi_dir, setting, tasks, skip_missing, tfds_data_dir)
  if not raw:
    raise MissingTaskFileError(f"no bAbI task in {tasks} has data under {babi_dir}/{setting}")
  train, valid, test = [], [], []
  for task in sorted(raw):
    grouped = [group_stories(examples) for examples in raw[task]]
    task_train, task_valid = split_validation(grouped[0], validation_fraction,
                                              str(task_file(babi_dir, setting, task, "train")))
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
