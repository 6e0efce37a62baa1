"""Trains any memjax experiment from an ml_collections config file.

    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/copy_ntm \
        --config.model.memory_size=256
    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/mine \
        --import=my_core.py --config.model.name=my_core      # a core of your own

Relaunching with the same --workdir resumes from the newest good checkpoint.
Every family prints the same final summary: its headline figure, why it stopped,
and where results went.
"""
import os
import sys
import time

_START_TIME = time.time()  # reported times include interpreter and JAX start-up
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from memjax import launch  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_IMPORTS = flags.DEFINE_multi_string("import", [], "Python files to run first (not as __main__), "
                                     "e.g. one that registers your own core or family.")
_DISTRIBUTED = flags.DEFINE_enum("distributed", "auto", ["auto", "true", "false"],
                                 "Call jax.distributed.initialize(): auto = on a Cloud TPU VM or when "
                                 "--coordinator_address is set.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", "", "host:port of process 0 (multi-host "
                                   "clusters JAX cannot detect by itself).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "Processes in the cluster (with --coordinator_address).")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "This process's index (with --coordinator_address).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  with launch.one_line_errors():
    from memjax import parallel
    from memjax.training import loop
    parallel.maybe_initialize_distributed(_DISTRIBUTED.value, _COORDINATOR.value,
                                          _NUM_PROCESSES.value, _PROCESS_ID.value)
    results = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value, start_time=_START_TIME)
  print(launch.summary(results))


if __name__ == "__main__":
  launch.run_imports(sys.argv)  # before the config is read: it may name a user's core
  launch.check_config_overrides(sys.argv, None)
  app.run(main)
