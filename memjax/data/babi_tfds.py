"""bAbI v1.2 as the tensorflow-datasets builder `babi`, read by the trainers through
`tfds.data_source` (array_record files, random access, no TensorFlow).

    config.data.source = "tfds"          # both bAbI families; default "files"
    config.data.tfds_data_dir = ""       # "" : $TFDS_DATA_DIR, else ~/tensorflow_datasets

With `data.source = "tfds"` the trainers call `load_raw` below instead of
`memjax.data.babi.load_raw`: each task is prepared once from the v1.2 text
files under `data.babi_dir` (parsed by the same `babi.parse_babi_file`, so
a malformed file is refused the same way) into `<tfds_data_dir>/babi/<config>/`,
then read back with `tfds.data_source`. Everything after the examples
(validation split, vocabulary, encoding, batches) is the plain path's, so both
sources give identical arrays (checked in tests/test_babi_data.py). Works with
tensorflow-datasets 4.9.10 without TensorFlow installed.

One BuilderConfig per task and setting: `en_qa1` ... `en_qa20` (1k questions
per task) and `en-10k_qa1` ... `en-10k_qa20`. Splits: `train` (the whole
training file; the reader holds out `data.validation_fraction` of it, as the
plain path does) and `test`. Records hold no machine-local path: `source` is
`<setting>/<file name>:<line>`. The SHA-256 of the text files a config was
prepared from is kept in its metadata; reading it against other files is
refused, never served stale.

    sources = tfds.data_source("babi/en_qa1", data_dir="/tmp/tfds",
                               builder_kwargs={"babi_dir": babi.default_babi_dir(),
                                               "file_format": "array_record"})
    test = examples_from_records(sources["test"])   # -> [babi.QAExample], then babi.encode(...)

A task whose file is missing (en-10k task 3 in the shared copy) raises
`babi.MissingTaskFileError` naming the file when it is prepared.
"""
import hashlib
import pathlib
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from memjax.data import babi
from memjax.errors import ConfigError

_DESCRIPTION = """bAbI question answering tasks v1.2 (Weston et al. 2015): 20 tasks of
stories, questions, answers and supporting facts; `en` has 1,000 training and
1,000 test questions per task, `en-10k` 10,000 training questions."""
_CITATION = """@article{weston2015towards, title={Towards AI-complete question answering:
a set of prerequisite toy tasks}, author={Weston, Jason and Bordes, Antoine and Chopra,
Sumit and Rush, Alexander M and van Merri{\\"e}nboer, Bart and Joulin, Armand and
Mikolov, Tomas}, journal={arXiv preprint arXiv:1502.05698}, year={2015}}"""
SPLITS = ("train", "test")


class BabiConfig(tfds.core.BuilderConfig):
  """One task in one setting.

  Attributes:
    task: task number 1..20.
    setting: "en" or "en-10k".
  """

  def __init__(self, *, task: int, setting: str, **kwargs):
    super().__init__(name=config_name(setting, task),
                     description=f"bAbI {setting} task {task}: {babi.TASK_NAMES[task]}", **kwargs)
    self.task = task
    self.setting = setting


def config_name(setting: str, task: int) -> str:
  """The builder config of one task: "en_qa1", "en-10k_qa20"."""
  return f"{setting}_qa{task}"


def file_digests(babi_dir, setting: str, task: int) -> Dict[str, str]:
  """{split: SHA-256 hex} of the task's text files (what a prepared config is checked against)."""
  return {split: hashlib.sha256(babi.task_file(babi_dir, setting, task, split).read_bytes())
          .hexdigest() for split in SPLITS}


class BabiBuilder(tfds.core.GeneratorBasedBuilder):
  """bAbI v1.2 from local text files, registered as `babi`; see the module docstring."""

  name = "babi"
  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
      "1.2.0": "bAbI tasks v1.2 text files; train/validation/test.",
      "2.0.0": "train is the whole training file (readers hold out validation); source is "
               "relative to babi_dir; story_line; the files' SHA-256 in the metadata.",
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download tasks_1-20_v1-2.tar.gz from the bAbI project page (research.facebook.com, "
      "'bAbI tasks'), extract it and pass the folder tasks_1-20_v1-2 (holding en/ and "
      "en-10k/) as babi_dir= or as the manual_dir of the download config.")
  BUILDER_CONFIGS = [BabiConfig(task=t, setting=s) for s in babi.SETTINGS
                     for t in range(1, babi.NUM_TASKS + 1)]

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    # tfds resolves this through importlib_resources when memjax.data is a
    # namespace package (no __init__.py), which is not installed; say it directly.
    return epath.Path(__file__)

  def __init__(self, *, babi_dir: Optional[str] = None, **kwargs):
    self._babi_dir = babi_dir
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=_DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "story": tfds.features.Sequence(tfds.features.Text()),  # statements, oldest first
            "question": tfds.features.Text(),
            "answer": tfds.features.Text(),         # the answer word ("n,s" for lists)
            "answers": tfds.features.Sequence(tfds.features.Text()),
            "supporting": tfds.features.Sequence(np.int32),        # line IDs in the file
            "supporting_index": tfds.features.Sequence(np.int32),  # indices into story
            "task": np.int32,
            "source": tfds.features.Text(),         # <setting>/<file>:<line> of the question
            "story_line": np.int32,                 # line of the story's "1 ..." line
        }),
        metadata=tfds.core.MetadataDict(),
        homepage="https://research.facebook.com/downloads/babi/",
        citation=_CITATION,
    )

  def _folder(self, dl_manager) -> pathlib.Path:
    if self._babi_dir:
      return pathlib.Path(self._babi_dir)
    try:
      return pathlib.Path(dl_manager.manual_dir)
    except Exception as error:  # tfds raises AssertionError without a manual dir
      raise babi.MissingTaskFileError(
          f"no bAbI folder: pass babi_dir= to BabiBuilder or set the manual_dir. "
          f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS} ({error})") from None

  def _split_generators(self, dl_manager):
    config = self.builder_config
    folder = self._folder(dl_manager)
    files = {split: babi.task_file(folder, config.setting, config.task, split)
             for split in SPLITS}
    for path in files.values():
      if not path.is_file():
        raise babi.MissingTaskFileError(
            f"bAbI {config.setting} task {config.task}: file {path} not found; build the other "
            "configs or add the file")
    self.info.metadata["sha256"] = file_digests(folder, config.setting, config.task)
    return {split: self._generate_examples(babi.parse_babi_file(path, config.task))
            for split, path in files.items()}

  def _generate_examples(self, examples: List[babi.QAExample]):
    config = self.builder_config
    for i, ex in enumerate(examples):
      # "<setting>/<file>:<line>": the records name the file, not this machine's folder.
      file_name, line = ex.source.rsplit(":", 1)
      yield i, {
          "story": [" ".join(s) for s in ex.story],
          "question": " ".join(ex.question),
          "answer": ex.answer_word,
          "answers": list(ex.answer),
          "supporting": list(ex.supporting),
          "supporting_index": list(ex.supporting_index),
          "task": ex.task,
          "source": f"{config.setting}/{pathlib.Path(file_name).name}:{line}",
          "story_line": ex.story_line,
      }


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def examples_from_records(records: Iterable[dict]) -> List[babi.QAExample]:
  """`babi.QAExample`s from the builder's records (e.g. a `tfds.data_source` split), in file
  order (array_record shards are shuffled); `source` is the records' `<setting>/<file>:<line>`.
  """
  examples = []
  for r in records:
    examples.append(babi.QAExample(
        story=tuple(tuple(_text(s).split()) for s in r["story"]),
        question=tuple(_text(r["question"]).split()),
        answer=tuple(_text(a) for a in r["answers"]),
        supporting=tuple(int(s) for s in r["supporting"]),
        supporting_index=tuple(int(s) for s in r["supporting_index"]),
        task=int(r["task"]), source=_text(r["source"]), story_line=int(r["story_line"])))
  line = lambda ex: int(ex.source.rsplit(":", 1)[1])
  return sorted(examples, key=line)


def data_source(task: int, setting: str, babi_dir, data_dir: str = ""):
  """`{"train", "test": data source}` of one task via `tfds.data_source`, preparing it first
  when `data_dir` lacks it (`data_dir` "": $TFDS_DATA_DIR, else ~/tensorflow_datasets).

  Raises:
    ConfigError naming `config.data.tfds_data_dir` when the prepared task was built from other
    files than those under `babi_dir` now.
  """
  sources = tfds.data_source(
      f"{BabiBuilder.name}/{config_name(setting, task)}", data_dir=data_dir or None,
      builder_kwargs={"babi_dir": str(babi_dir), "file_format": "array_record"},
      # Never look for a prepared copy on GCS: the data is the local files.
      download_and_prepare_kwargs={
          "download_config": tfds.download.DownloadConfig(try_download_gcs=False)})
  info = sources["train"].dataset_info
  prepared_from = dict(info.metadata or {}).get("sha256")
  if prepared_from != file_digests(babi_dir, setting, task):
    raise ConfigError(
        f"config.data.tfds_data_dir: {info.data_dir} was prepared from other bAbI {setting} "
        f"task {task} files than those under config.data.babi_dir={str(babi_dir)!r}; delete "
        "that folder to prepare it again")
  return sources


def load_raw(babi_dir, setting: str, tasks: Sequence[int], skip_missing: bool = False,
             data_dir: str = ""
             ) -> Tuple[Dict[int, Tuple[List[babi.QAExample], List[babi.QAExample]]],
                        Dict[int, List[str]]]:
  """`babi.load_raw` read through the `babi` TFDS builder: the same questions in the same order
  (their `source` relative to `babi_dir`), and the same folder and missing-file handling."""
  missing = babi.tasks_without_files(babi_dir, setting, tasks, skip_missing)
  data = {}
  for task in tasks:
    if task not in missing:
      sources = data_source(task, setting, babi_dir, data_dir)
      data[task] = tuple(examples_from_records(sources[split].__getitems__(
          range(len(sources[split])))) for split in SPLITS)
  return data, missing


def prepare(task: int, setting: str, data_dir: str, babi_dir: str):
  """Builds (once) and returns `{split: data source}` of one task."""
  return data_source(task, setting, babi_dir, data_dir)
