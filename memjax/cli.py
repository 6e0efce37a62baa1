"""The command-line programs: `memjax-train`, `memjax-visualize` and `memjax-sample` (console
scripts of the installed package; `experiments/train.py`, `visualize.py` and `sample.py` call
the same functions from a checkout).

    memjax-train --config=configs/copy_ntm.py --workdir=/tmp/copy_ntm --config.model.memory_size=256
    memjax-train --config=configs/copy_ntm.py --workdir=/tmp/mine \
        --import=my_core.py --config.model.name=my_core            # a core of your own
    memjax-visualize --workdir=/tmp/copy_ntm --length=30
    memjax-sample --workdir=/tmp/charlm_xl --prompt="ROMEO:" --length=300

A config file may import its sibling configs (`from configs import copy_ntm`): the folder that
holds the `configs/` package the file sits in or beside is put on `sys.path` first, so a
checkout's configs load from any working directory, by relative or absolute path.

Each program defines its flags when it starts, so the three share one module without their
flags (`--length`, `--seed`...) colliding.
"""
import os
import sys
import time
from typing import List, Optional

from absl import app, flags, logging

from memjax import launch

FLAGS = flags.FLAGS


def config_root(config_spec: str) -> Optional[str]:
  """The nearest folder above `config_spec`'s file that holds a `configs/` package, or None."""
  folder = os.path.dirname(os.path.abspath(config_spec.split(":", 1)[0]))
  while True:
    if os.path.isfile(os.path.join(folder, "configs", "__init__.py")):
      return folder
    parent = os.path.dirname(folder)
    if parent == folder:
      return None
    folder = parent


def _config_spec(argv: List[str]) -> Optional[str]:
  args = argv[1:]
  for index, arg in enumerate(args):
    if arg.startswith(("--config=", "-config=")):
      return arg.split("=", 1)[1]
    if arg in ("--config", "-config") and index + 1 < len(args):
      return args[index + 1]
  return None


def _prepare(argv: List[str], default_config: Optional[str] = None) -> None:
  """What runs before absl parses the flags: the config's `configs/` package made importable,
  `--import` files run, and the config file and its overrides checked (one-line errors)."""
  spec = _config_spec(argv) or default_config
  for path in [spec] + [arg.split("=", 1)[1] for arg in argv[1:] if arg.startswith("--import=")]:
    root = config_root(path) if path else None
    if root and root not in sys.path:
      sys.path.insert(0, root)
  launch.run_imports(argv)  # before the config is read: it may name a user's core


def _define_import_flag(what: str) -> None:
  flags.DEFINE_multi_string("import", [], "Python files to run first (not as __main__), "
                            f"e.g. {what}.")


def train(argv: Optional[List[str]] = None, start_time: Optional[float] = None) -> None:
  """`memjax-train`: trains any experiment from an ml_collections config file.

  Relaunching with the same --workdir resumes from the newest good checkpoint. Every family
  prints the same final summary: its headline figure, why it stopped, and where results went.
  """
  start_time = time.time() if start_time is None else start_time
  argv = list(sys.argv if argv is None else argv)
  from ml_collections import config_flags
  _prepare(argv)
  launch.check_config_overrides(argv, None)
  config = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config "
                                           "file.", lock_config=True)
  workdir = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
  _define_import_flag("one that registers your own core or family")
  distributed = flags.DEFINE_enum(
      "distributed", "auto", ["auto", "true", "false"], "Call jax.distributed.initialize(): "
      "auto = on a Cloud TPU VM or when --coordinator_address is set.")
  coordinator = flags.DEFINE_string("coordinator_address", "", "host:port of process 0 "
                                    "(multi-host clusters JAX cannot detect by itself).")
  num_processes = flags.DEFINE_integer("num_processes", 0, "Processes in the cluster (with "
                                       "--coordinator_address).")
  process_id = flags.DEFINE_integer("process_id", -1, "This process's index (with "
                                    "--coordinator_address).")
  flags.mark_flags_as_required(["config", "workdir"])

  def main(args):
    if len(args) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(args[1:])}")
    if not FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    with launch.one_line_errors():
      from memjax import parallel
      from memjax.training import loop
      launch.enable_compilation_cache()
      parallel.maybe_initialize_distributed(distributed.value, coordinator.value,
                                            num_processes.value, process_id.value)
      results = loop.train_and_evaluate(config.value, workdir.value, start_time=start_time)
    print(launch.summary(results))

  app.run(main, argv=argv)


def visualize(argv: Optional[List[str]] = None) -> None:
  """`memjax-visualize`: renders PNGs of a trained run from its newest checkpoint.

  Writes <workdir>/plots/example_seed<k>.png (input, target, predicted probabilities),
  memory_seed<k>.png (the core's state, by the plotting contract of memjax/plots.py) and
  loss.png, and adds them to TensorBoard. A run of your own core needs the file that
  registers it (`register_core`), given by --import; the error for a missing one names the
  file the run registered it from.
  """
  argv = list(sys.argv if argv is None else argv)
  _prepare(argv)
  workdir = flags.DEFINE_string("workdir", None, "A run's workdir (holds config.json and "
                                "checkpoints/).")
  length = flags.DEFINE_integer("length", 0, "Sequence length to show (0: the task's "
                                "max_length).")
  seed_index = flags.DEFINE_integer("seed_index", 0, "Which of num_seeds models to show.")
  all_slots = flags.DEFINE_bool("all_slots", False, "Draw every memory slot, not only those "
                                "a head weighted (memjax/plots.py).")
  _define_import_flag("the one that registers your own core")
  flags.mark_flag_as_required("workdir")

  def main(args):
    del args
    logging.set_verbosity(logging.WARNING)
    from memjax.plots import render_run
    with launch.one_line_errors():
      for path in render_run(workdir.value, length.value, seed_index.value, all_slots.value):
        print(path)

  app.run(main, argv=argv)


def sample(argv: Optional[List[str]] = None) -> None:
  """`memjax-sample`: samples text from a trained character-level LM run (newest checkpoint).

  Token by token: a segment model through its key/value cache
  (`memjax.transformer.fast_eval.generate`), each character seeing the last
  max(eval.mem_len, eval.seg_len - 1) characters; a recurrent core through its carry.
  A run of your own core needs `--import=` of the file that registers it.
  """
  argv = list(sys.argv if argv is None else argv)
  _prepare(argv)
  workdir = flags.DEFINE_string("workdir", None, "A char-LM run's workdir (config.json, "
                                "checkpoints/).")
  prompt = flags.DEFINE_string("prompt", "", "Text to continue (default: the first "
                               "--prompt_length characters of the validation split).")
  prompt_length = flags.DEFINE_integer("prompt_length", 64, "Used when --prompt is empty.")
  length = flags.DEFINE_integer("length", 300, "Characters to sample.")
  temperature = flags.DEFINE_float("temperature", 0.8, "Softmax temperature (0: greedy).")
  seed = flags.DEFINE_integer("seed", 0, "Sampling seed.")
  _define_import_flag("the one that registers your own core")
  flags.mark_flag_as_required("workdir")

  def main(args):
    del args
    logging.set_verbosity(logging.WARNING)
    from memjax.training.loop import load_run
    if length.value < 1:
      sys.exit(f"error: --length={length.value} must be >= 1")
    if temperature.value < 0:
      sys.exit(f"error: --temperature={temperature.value} must be >= 0")
    with launch.one_line_errors():
      family, params, step = load_run(workdir.value, "char_lm", params_only=True)
      text = family.sample(params, length.value, prompt_length.value, temperature.value,
                           seed.value, prompt=prompt.value or None)
    print(f"# {family.config.model.name}, step {step}, temperature {temperature.value}")
    print(text["prompt"] + text["continuation"])

  app.run(main, argv=argv)
