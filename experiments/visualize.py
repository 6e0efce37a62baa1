"""Renders PNGs of a trained run from its newest checkpoint.

    python experiments/visualize.py --workdir=runs/copy_ntm --length=30
    python experiments/visualize.py --workdir=/tmp/delta --import=examples/delta_memory.py

Writes <workdir>/plots/example.png (input, target, output) and memory.png
(read/write weightings over time and the final memory). A run of your own core
needs the file that registers it (`register_core`), given by --import; the
error for a missing one names the file the run registered it from.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from memjax import launch  # noqa: E402
from memjax.plots import render_run  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir (holds config.json and checkpoints/).")
_LENGTH = flags.DEFINE_integer("length", 0, "Sequence length to show (0: the task's max_length).")
_SEED = flags.DEFINE_integer("seed_index", 0, "Which of num_seeds models to show.")
_IMPORTS = flags.DEFINE_multi_string("import", [], "Python files to run first (not as __main__), "
                                     "e.g. the one that registers your own core.")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  with launch.one_line_errors():
    for path in render_run(_WORKDIR.value, _LENGTH.value, _SEED.value):
      print(path)


if __name__ == "__main__":
  launch.run_imports(sys.argv)
  app.run(main)
