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

from memjax.training import registry  # noqa: E402
from memjax.training.errors import ConfigError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  config = _CONFIG.value
  try:
    train_and_evaluate = registry.get_train_and_evaluate(config.get("experiment", "algorithmic"))
    results = train_and_evaluate(config, _WORKDIR.value, start_time=_START_TIME)
  except (ConfigError, ValueError, FileNotFoundError) as error:
    # Bad flags, sizes or files: one line that names the culprit, no traceback.
    sys.exit(f"error: {error}")
  print(f"results: {results.get('results_path')}")


if __name__ == "__main__":
  check_config_overrides(sys.argv, None)
  app.run(main)
