"""Trains any memjax experiment from an ml_collections config file.

    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/copy_ntm \
        --config.model.memory_size=256

Relaunching with the same --workdir resumes from the newest good checkpoint.
"""
import os
import sys
import time

_START_TIME = time.time()  # reported times include interpreter and JAX start-up
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from memjax.training.launch import check_config_overrides  # noqa: E402

from memjax.training import parallel, registry  # noqa: E402
from memjax.training.checkpoint import CheckpointError  # noqa: E402
from memjax.training.errors import ConfigError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
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
  config = _CONFIG.value
  try:
    parallel.maybe_initialize_distributed(_DISTRIBUTED.value, _COORDINATOR.value,
                                          _NUM_PROCESSES.value, _PROCESS_ID.value)
    train_and_evaluate = registry.get_train_and_evaluate(config.get("experiment", "algorithmic"))
    results = train_and_evaluate(config, _WORKDIR.value, start_time=_START_TIME)
  except (ConfigError, ValueError, FileNotFoundError, CheckpointError) as error:
    # Bad flags, sizes or files: one line that names the culprit, no traceback.
    sys.exit(f"error: {error}")
  print(f"results: {results.get('results_path')}")


if __name__ == "__main__":
  check_config_overrides(sys.argv, None)
  app.run(main)
