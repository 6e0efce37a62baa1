"""Every model family at a tiny size, and the data files they read, for the loop's tests.

    write_data(root)                         # a text file and bAbI-format tasks 1 and 8
    config = tiny_config("char_lm", root)    # the family's config, seconds to train
    set_num_steps(config, 8)                 # steps, or epochs for the memory networks

`FAMILIES` lists every family the loop trains; the tests over all of them take
their configs from here. `NEW_MEMORIES` are the segment models and cores added after
the families' tests were written; `with_model(config, name)` puts one in a
char_lm or long_range config at a tiny size. Also a config file: `--config=tests/family_configs.py:<family>,<root>`
launches a tiny run through experiments/train.py (the kill-and-resume test).
"""
import importlib
import pathlib

import ml_collections
import numpy as np

from memjax.data import babi

FAMILIES = ("algorithmic", "char_lm", "long_range", "mqar", "haystack", "kbqa", "graph",
            "babi_memnn", "babi_recurrent")
NEW_MEMORIES = ("infini_attention", "rmt", "memorizing_transformer", "linear_attention",
                "delta_rule")
# Their `model` blocks at a tiny size (XL's tiny width, layers, heads and feed-forward).
_TINY_MODELS = {
    "infini_attention": dict(name="infini_attention"),
    "rmt": dict(name="rmt", num_memory_tokens=2, bptt_segments=0),
    "memorizing_transformer": dict(name="memorizing_transformer", memory_size=8,
                                   num_neighbours=4),
    "linear_attention": dict(name="linear_attention"),
    "delta_rule": dict(name="delta_rule"),
}
TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def load_config(name: str, arg: str = None):
  """`configs/<name>.py`'s `get_config(arg)`."""
  module = importlib.import_module(f"configs.{name}")
  return module.get_config(arg) if arg is not None else module.get_config()


def write_babi(root: pathlib.Path, num_stories: int = 24) -> pathlib.Path:
  """Task 1-like stories and task 8-like list answers under root/en/, train and test."""
  rng = np.random.default_rng(0)
  names, places = ["mary", "john", "sandra"], ["kitchen", "garden", "office", "hallway"]
  for task in (1, 8):
    for split in ("train", "test"):
      lines = []
      for _ in range(num_stories):
        where, line = {}, 0
        for _ in range(2):
          for _ in range(2):
            name, place = rng.choice(names), rng.choice(places)
            where[name] = place
            line += 1
            lines.append(f"{line} {name.capitalize()} went to the {place}.")
          name = rng.choice(sorted(where))
          line += 1
          answer = where[name] if task == 1 else ",".join(sorted({where[name], "milk"}))
          lines.append(f"{line} Where is {name.capitalize()}?\t{answer}\t1")
      path = babi.task_file(root, "en", task, split)
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text("\n".join(lines) + "\n")
  return root


def write_data(root) -> pathlib.Path:
  """The files the tiny configs read, under `root`."""
  root = pathlib.Path(root)
  root.mkdir(parents=True, exist_ok=True)
  (root / "corpus.txt").write_text(TEXT)
  write_babi(root / "babi")
  return root


def set_num_steps(config, num_steps: int) -> None:
  """The run's length: `train.num_steps`, or the epochs of the memory networks."""
  if config.experiment == "babi_memnn":
    config.train.num_epochs = num_steps - config.train.ls_epochs
  else:
    config.train.num_steps = num_steps


def tiny_config(family: str, root):
  """`family` at a tiny size, reading the files of `write_data(root)`: 8 steps, a log line
  every step, an evaluation every 4, a checkpoint every 2 (10 kept)."""
  root = pathlib.Path(root)
  intervals = dict(log_every=1, eval_every=4, checkpoint_every=2, keep_checkpoints=10)
  if family == "algorithmic":
    config = load_config("copy_ntm")
    config.task.update(max_length=4, num_bits=4)
    config.model.update(memory_size=8, word_size=6, controller_size=16)
    config.train.update(batch_size=8, eval_batch_size=20, target_error=-1.0, learning_rate=1e-2)
    config.eval.lengths = ()
  elif family == "char_lm":
    config = load_config("charlm_transformer_xl")
    config.data.path = str(root / "corpus.txt")
    config.model.update(num_layers=1, d_model=16, d_ff=32, num_heads=2, mem_len=4)
    config.train.update(seg_len=4, batch_size=2, warmup_steps=1)
    config.eval.update(mem_len=4, seg_len=4, batch_size=2, max_segments=2, sample_length=0)
  elif family == "long_range":
    config = load_config("long_range_xl")
    config.task.update(seg_len=4, num_segments=2, num_keys=4, num_values=4, num_noise=4)
    config.model.update(num_layers=1, d_model=16, d_ff=32, num_heads=2, mem_len=4)
    config.train.batch_size = 4
    config.eval.batch_size = 16
  elif family == "mqar":
    config = load_config("memory_zoo", "cell/small/mqar_p4/gru/h32/0")
    config.task.update(seg_len=4, num_segments=4, num_pairs=2, num_keys=4, num_values=4)
    config.model.hidden_size = 16
    config.train.batch_size = 4
    config.eval.batch_size = 16
  elif family == "haystack":
    config = load_config("memory_zoo", "cell/small/haystack_qa1/transformer_xl/mem16/0")
    config.data.update(babi_dir=str(root / "babi"), text_path=str(root / "corpus.txt"),
                       setting="en", vocab_tasks=(1,), num_text_words=20)
    config.task.update(seg_len=16, train_length=48, num_train_examples=32)
    config.model.update(num_layers=1, d_model=16, d_ff=32, num_heads=2, mem_len=16)
    config.train.batch_size = 4
    config.eval.update(batch_size=8, num_examples=8, lengths=(64,))
  elif family == "kbqa":
    config = load_config("kbqa_kv_memory")
    config.task.update(num_films=40, num_people=40, num_directors=8, num_cities=8,
                       num_countries=3, questions_per_hop=120, max_candidates=16)
    config.model.embed_dim = 16
    config.train.batch_size = 8
  elif family == "graph":
    config = load_config("graph_traversal_ntm", "kv_memory")
    config.model.embed_dim = 16
    config.train.update(batch_size=8, eval_batch_size=16)
  elif family == "babi_memnn":
    config = load_config("babi_memn2n")
    config.data.update(babi_dir=str(root / "babi"), tasks=(1, 8), memory_size=10)
    config.model.embedding_dim = 8
    config.num_seeds = 2
    config.train.update(ls_epochs=1, memory_buckets=())
  elif family == "babi_recurrent":
    config = load_config("babi_dnc", "1k,lstm")
    config.data.update(babi_dir=str(root / "babi"), tasks=(1, 8))
    config.model.hidden_size = 16
    config.num_seeds = 2
    config.train.update(batch_size=4, eval_batch_size=16, length_buckets=(32, 64),
                        learning_rate=1e-2)
  else:
    raise ValueError(f"no tiny config for family {family!r}")
  config.train.update(intervals)
  set_num_steps(config, 8)
  return config


def with_model(config, name: str):
  """`config` (a char_lm or long_range config) with model `name` of NEW_MEMORIES at a tiny
  size; their memory is no cache of hidden states, so eval.mem_len = -1."""
  config.model = ml_collections.ConfigDict(dict(_TINY_MODELS[name], d_model=16, num_layers=1,
                                                num_heads=2, d_ff=32))
  config.eval.mem_len = -1
  if config.experiment == "char_lm":
    config.eval.compare_mem_lens = ()
  return config


def get_config(arg: str):
  """As a config file: `--config=tests/family_configs.py:<family>,<data root>[,<num_steps>]`."""
  family, root, *num_steps = arg.split(",")
  config = tiny_config(family, root)
  if num_steps:
    set_num_steps(config, int(num_steps[0]))
  return config
