"""LSTM baseline on priority sort, same task, trainer and evaluation as configs/priority_sort_ntm.py.

Run (the README row: two seeds, the NTM row's schedule):
    python experiments/train.py --config=configs/priority_sort_lstm.py --workdir=/tmp/psort_lstm \
      --config.num_seeds=2 --config.seed=1
"""
import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import priority_sort_ntm  # noqa: E402


def get_config():
  config = priority_sort_ntm.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "lstm"          # lstm | gru
  config.model.hidden_size = 256      # recurrent units
  config.train.learning_rate = 1e-3
  return config
