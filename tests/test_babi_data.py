"""bAbI parser, vocabulary and encoding: real v1.2 files and malformed input; the TFDS source."""
import dataclasses
import sys

import jax
import numpy as np
import pytest

from memjax.data import babi
from memjax.errors import ConfigError
from tests.data_paths import require_shared_data
from tests.family_configs import tiny_config, write_babi

_BABI = "babi/tasks_1-20_v1-2"


def test_parses_real_task1_file():
  path = require_shared_data(f"{_BABI}/en/qa1_single-supporting-fact_train.txt")
  examples = babi.parse_babi_file(path, task=1)
  assert len(examples) == 1000
  first = examples[0]
  assert first.story == (("mary", "moved", "to", "the", "bathroom"),
                         ("john", "went", "to", "the", "hallway"))
  assert first.question == ("where", "is", "mary")
  assert first.answer == ("bathroom",)
  assert first.supporting == (1,)
  assert first.supporting_index == (0,)
  # The second question (line 6) sees statements 1, 2, 4, 5 (questions are not memories):
  # its supporting fact, ID 4, is the third statement.
  assert len(examples[1].story) == 4 and examples[1].supporting == (4,)
  assert examples[1].supporting_index == (2,)
  assert first.source.endswith("qa1_single-supporting-fact_train.txt:3")


@pytest.mark.parametrize("task,name", [(8, "lists-sets"), (19, "path-finding")])
def test_list_answers_are_one_vocabulary_word(task, name):
  path = require_shared_data(f"{_BABI}/en/qa{task}_{name}_test.txt")
  examples = babi.parse_babi_file(path, task=task)
  multi = [ex for ex in examples if len(ex.answer) > 1]
  assert multi, "tasks 8 and 19 have list answers"
  assert multi[0].answer_word == ",".join(multi[0].answer)
  vocab = babi.Vocabulary.from_examples(examples)
  assert multi[0].answer_word in vocab.index


_GOOD = "1 Mary went to the kitchen.\n2 John got the milk.\n3 Where is Mary?\tkitchen\t1\n"


@pytest.mark.parametrize("text,line,message", [
    ("x Mary went home.\n", 1, "numeric ID"),
    ("1 Mary went home.\n3 John left.\n", 2, "IDs must count up"),
    ("1 Mary went home.\n2 Where is Mary?\thome\n", 2, "3 tab-separated fields"),
    ("1 Mary went home.\n2 Where is Mary?\thome\t7\n", 2, "supporting fact ID"),
    ("1 Mary went home.\n2 Where is Mary?\thome\tone\n", 2, "must be integers"),
    ("1 Mary went home.\n2 Where is Mary?\t\t1\n", 2, "empty answer"),
    ("1 .\n", 1, "empty statement"),
])
def test_malformed_lines_name_file_and_line(text, line, message):
  # A good story comes first (3 lines), so the bad line is line + 3 of the file.
  with pytest.raises(babi.BabiFormatError, match=rf"bad\.txt:{line + 3}: .*{message}"):
    babi.parse_babi_text(_GOOD + text, name="bad.txt")


def test_malformed_file_on_disk_names_path(tmp_path):
  path = tmp_path / "qa1_broken.txt"
  path.write_text(_GOOD + "1 Sandra went home.\n2 Where is Sandra?\thome 1\n")
  with pytest.raises(babi.BabiFormatError, match=rf"{path}:5"):
    babi.parse_babi_file(path)


def test_missing_file_is_named(tmp_path):
  with pytest.raises(babi.MissingTaskFileError, match="nope.txt"):
    babi.parse_babi_file(tmp_path / "nope.txt")


def test_missing_10k_task3_is_reported_and_skipped_when_asked():
  root = require_shared_data(_BABI)
  if (root / "en-10k" / "qa3_three-supporting-facts_train.txt").exists():
    pytest.skip("this copy of the data has the 10k task 3 training file")
  with pytest.raises(babi.MissingTaskFileError,
                     match="task 3: .*en-10k/qa3_three-supporting-facts_train.txt.*skip_missing"):
    babi.load_raw(root, "en-10k", [3, 4])
  data, missing = babi.load_raw(root, "en-10k", [3, 4], skip_missing=True)
  assert list(data) == [4] and list(missing) == [3]
  assert len(data[4][0]) == 10000


def test_bad_setting_and_folder_name_the_config_key(tmp_path):
  with pytest.raises(ValueError, match="config.data.setting"):
    babi.task_file(tmp_path, "en-1M", 1, "train")
  with pytest.raises(babi.MissingTaskFileError, match="config.data.babi_dir"):
    babi.load_babi(tmp_path, "en", [1])


def test_encoding_keeps_last_statements_most_recent_first():
  text = "".join(f"{i} s{i} went home.\n" for i in range(1, 8)) + "8 Where is s7?\thome\t7\n"
  examples = babi.parse_babi_text(text, task=1)
  vocab = babi.Vocabulary.from_examples(examples)
  assert vocab.words[0] == babi.NIL_WORD
  enc = babi.encode(examples, vocab, memory_size=5)
  assert enc.memory.shape == (1, 5, 3) and enc.query.shape == (1, 3)
  slot_words = [vocab.words[i] for i in enc.memory[0, :, 0]]
  assert slot_words == ["s7", "s6", "s5", "s4", "s3"]  # last 5, newest first
  assert enc.memory_mask[0].all()
  assert vocab.words[enc.answer[0]] == "home" and enc.task[0] == 1
  enc = babi.encode(examples, vocab, memory_size=10)
  np.testing.assert_array_equal(enc.memory_mask[0], [True] * 7 + [False] * 3)
  assert (enc.memory[0, 7:] == 0).all()


def test_load_babi_real_task_splits_and_shapes():
  root = require_shared_data(_BABI)
  data = babi.load_babi(root, "en", [1, 3], memory_size=50)
  assert data.train.num_examples == 1800 and data.valid.num_examples == 200
  assert data.test.num_examples == 2000
  assert data.memory_size == 50
  # Task 3 stories are longer than 50 statements: the memory is full, not longer.
  assert data.train.memory_mask[data.train.task == 3].sum(axis=1).max() == 50
  assert set(np.unique(data.valid.task)) == {1, 3}
  assert data.train.answer.min() > 0  # never the nil word


@pytest.mark.parametrize("tasks, size", [([4], 2), ([1], 10), ([6], 26), ([1, 3], 50)])
def test_memory_fits_the_longest_training_story_as_the_authors(tasks, size):
  # Their config.sz = min(50, size(story, 2)): the most statements of a training story
  # (task 4: 2 statements then the question; task 3's stories pass 50).
  root = require_shared_data(_BABI)
  data = babi.load_babi(root, "en", tasks, memory_size=50, fit_memory_to_stories=True)
  assert data.memory_size == size
  assert data.train.memory_mask.sum(axis=1).max() == size
  assert babi.load_babi(root, "en", tasks, memory_size=50).memory_size == 50


def test_validation_split_fraction_is_checked():
  with pytest.raises(ValueError, match="validation_fraction"):
    babi.split_validation([], 1.5)


def test_tfds_builder_writes_array_record_and_reads_back(tmp_path):
  """The `babi` TFDS builder works without TensorFlow: array_record + tfds.data_source."""
  root = require_shared_data(_BABI)
  from memjax.data import babi_tfds  # tensorflow_datasets import is slow: only here
  assert babi_tfds.BabiBuilder.name == "babi"
  sources = babi_tfds.data_source(1, "en", root, str(tmp_path))
  assert {k: len(v) for k, v in sources.items()} == {"train": 1000, "test": 1000}
  records = sources["test"].__getitems__(range(1000))
  # No path of this machine in the records: the file is named relative to babi_dir.
  assert all(r["source"].decode().startswith("en/qa1_single-supporting-fact_test.txt:")
             for r in records)
  test = babi_tfds.examples_from_records(records)
  expected = babi.parse_babi_file(root / "en" / "qa1_single-supporting-fact_test.txt", 1)
  assert test == [dataclasses.replace(e, source="en/" + e.source.rsplit("/", 1)[1])
                  for e in expected]
  assert "tensorflow" not in sys.modules
  if not (root / "en-10k" / "qa3_three-supporting-facts_train.txt").exists():
    with pytest.raises(babi.MissingTaskFileError, match="qa3_three-supporting-facts_train.txt"):
      babi_tfds.prepare(3, "en-10k", str(tmp_path), str(root))


def test_tfds_refuses_data_prepared_from_other_files(tmp_path):
  from memjax.data import babi_tfds
  root = write_babi(tmp_path / "babi", num_stories=3)
  babi_tfds.data_source(1, "en", root, str(tmp_path / "tfds"))
  write_babi(tmp_path / "babi", num_stories=4)    # the files change after preparation
  with pytest.raises(ConfigError, match=r"config.data.tfds_data_dir: .*babi/en_qa1/2.0.0 was "
                                        r"prepared from other bAbI en task 1 files"):
    babi_tfds.data_source(1, "en", root, str(tmp_path / "tfds"))


def test_both_sources_load_identical_arrays_of_a_real_task(tmp_path):
  root = require_shared_data(_BABI)
  files = babi.load_babi(root, "en", [1], memory_size=50, fit_memory_to_stories=True)
  tfds = babi.load_babi(root, "en", [1], memory_size=50, fit_memory_to_stories=True,
                        source="tfds", tfds_data_dir=str(tmp_path))
  assert files.vocab.words == tfds.vocab.words
  for split in ("train", "valid", "test"):
    for a, b in zip(getattr(files, split), getattr(tfds, split)):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", ["babi_memnn", "babi_recurrent"])
def test_both_sources_give_the_trainers_identical_batches(tmp_path, family):
  from memjax.training import registry
  write_babi(tmp_path / "babi", num_stories=12)
  built = {}
  for source in ("files", "tfds"):
    config = tiny_config(family, tmp_path)
    config.data.update(source=source, tfds_data_dir=str(tmp_path / "tfds"))
    built[source] = registry.family_class(config)(config)
  files, tfds = built["files"], built["tfds"]
  for step in range(3):
    leaves = [jax.tree_util.tree_leaves(f.batch(step)) for f in (files, tfds)]
    assert len(leaves[0]) == len(leaves[1]) > 0
    for a, b in zip(*leaves):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert files.data.vocab.words == tfds.data.vocab.words
  if family == "babi_memnn":
    for split in ("train", "valid", "test"):
      for a, b in zip(getattr(files.data, split), getattr(tfds.data, split)):
        np.testing.assert_array_equal(a, b)
  else:
    for a, b in zip(files.test_buckets + files.valid_buckets,
                    tfds.test_buckets + tfds.valid_buckets):
      for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
