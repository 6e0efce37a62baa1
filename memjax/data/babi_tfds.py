"""bAbI v1.2 as a tensorflow-datasets builder (array_record files, read with `as_data_source()`).

Works with tensorflow-datasets 4.9.10 *without TensorFlow*: the builder writes
`array_record` shards and `builder.as_data_source()` reads them back as
random-access Python records (checked in tests/test_babi_data.py). The
training code uses the plain-numpy path of `memjax.data.babi` (same parser,
no preparation step); this builder is for users who want the TFDS catalogue
interface or `grain` pipelines.

One BuilderConfig per task and setting: `en_qa1` ... `en_qa20` (1k questions
per task) and `en-10k_qa1` ... `en-10k_qa20`. The v1.2 text files are read
from a manual folder: `babi_dir=` (the folder holding `en/` and `en-10k/`)
or TFDS's `download_config.manual_dir`. Splits: `train` (first 90% of the
training file's questions), `validation` (last 10%), `test`.

    builder = BabiBuilder(config="en_qa1", data_dir="/tmp/tfds", babi_dir=babi.default_babi_dir())
    builder.download_and_prepare(file_format="array_record")
    test = builder.as_data_source()["test"]          # test[i] -> dict of one question
    examples = examples_from_records(test)           # -> [babi.QAExample], then babi.encode(...)

A task whose file is missing (en-10k task 3 in the shared copy) raises
`babi.MissingTaskFileError` naming the file when it is prepared.
"""
import pathlib
from typing import Iterable, List, Optional

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from memjax.data import babi

_DESCRIPTION = """bAbI question answering tasks v1.2 (Weston et al. 2015): 20 tasks of
stories, questions, answers and supporting facts; `en` has 1,000 training and
1,000 test questions per task, `en-10k` 10,000 training questions."""
_CITATION = """@article{weston2015towards, title={Towards AI-complete question answering:
a set of prerequisite toy tasks}, author={Weston, Jason and Bordes, Antoine and Chopra,
Sumit and Rush, Alexander M and van Merri{\\"e}nboer, Bart and Joulin, Armand and
Mikolov, Tomas}, journal={arXiv preprint arXiv:1502.05698}, year={2015}}"""


class BabiConfig(tfds.core.BuilderConfig):
  """One task in one setting.

  Attributes:
    task: task number 1..20.
    setting: "en" or "en-10k".
    validation_fraction: share of the training questions held out (the last ones).
  """

  def __init__(self, *, task: int, setting: str, validation_fraction: float = 0.1, **kwargs):
    super().__init__(name=f"{setting}_qa{task}",
                     description=f"bAbI {setting} task {task}: {babi.TASK_NAMES[task]}", **kwargs)
    self.task = task
    self.setting = setting
    self.validation_fraction = validation_fraction


class BabiBuilder(tfds.core.GeneratorBasedBuilder):
  """bAbI v1.2 from local text files; see the module docstring."""

  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {"1.2.0": "bAbI tasks v1.2 text files."}
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
            "source": tfds.features.Text(),         # file:line of the question
        }),
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
             for split in ("train", "test")}
    for path in files.values():
      if not path.is_file():
        raise babi.MissingTaskFileError(
            f"bAbI {config.setting} task {config.task}: file {path} not found; build the other "
            "configs or add the file")
    train = babi.parse_babi_file(files["train"], config.task)
    test = babi.parse_babi_file(files["test"], config.task)
    train, valid = babi.split_validation(train, config.validation_fraction)
    return {"train": self._generate_examples(train), "validation": self._generate_examples(valid),
            "test": self._generate_examples(test)}

  def _generate_examples(self, examples: List[babi.QAExample]):
    for i, ex in enumerate(examples):
      yield i, {
          "story": [" ".join(s) for s in ex.story],
          "question": " ".join(ex.question),
          "answer": ex.answer_word,
          "answers": list(ex.answer),
          "supporting": list(ex.supporting),
          "supporting_index": list(ex.supporting_index),
          "task": ex.task,
          "source": ex.source,
      }


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def examples_from_records(records: Iterable[dict]) -> List[babi.QAExample]:
  """`babi.QAExample`s from the builder's records (e.g. an `as_data_source()` split).

  Records are sorted back into file order (array_record shards are shuffled).
  """
  examples = []
  for r in records:
    examples.append(babi.QAExample(
        story=tuple(tuple(_text(s).split()) for s in r["story"]),
        question=tuple(_text(r["question"]).split()),
        answer=tuple(_text(a) for a in r["answers"]),
        supporting=tuple(int(s) for s in r["supporting"]),
        supporting_index=tuple(int(s) for s in r["supporting_index"]),
        task=int(r["task"]), source=_text(r["source"])))
  line = lambda ex: int(ex.source.rsplit(":", 1)[1])
  return sorted(examples, key=line)


def prepare(task: int, setting: str, data_dir: str, babi_dir: str):
  """Builds (once) and returns `{split: data source}` of one task."""
  builder = BabiBuilder(config=f"{setting}_qa{task}", data_dir=data_dir, babi_dir=babi_dir,
                        file_format="array_record")
  builder.download_and_prepare()
  return builder.as_data_source()
