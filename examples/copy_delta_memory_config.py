"""Copy with the example `delta_memory` core (examples/delta_memory.py).

Run:
    python experiments/train.py --import=examples/delta_memory.py \
        --config=examples/copy_delta_memory_config.py --workdir=/tmp/delta
"""
import ml_collections

from configs import copy_ntm  # same task, family and evaluation; only the model block differs


def get_config():
  config = copy_ntm.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "delta_memory"  # registered by examples/delta_memory.py
  config.model.controller_size = 64   # LSTM controller units
  config.model.key_size = 32          # fast-weight key width
  config.model.value_size = 16        # fast-weight value width
  config.task.max_length = 10
  config.eval.lengths = (5, 10, 20)
  return config
