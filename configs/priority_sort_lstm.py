"""LSTM baseline on priority sort, same task, family and evaluation as configs/priority_sort_ntm.py.

Run (the row of docs/results.md: two seeds, the NTM row's schedule):
    python experiments/train.py --config=configs/priority_sort_lstm.py --workdir=/tmp/psort_lstm \
      --config.num_seeds=2 --config.seed=1
"""
from configs import copy_lstm
from configs import priority_sort_ntm


def get_config():
  config = priority_sort_ntm.get_config()
  baseline = copy_lstm.get_config()
  config.model = baseline.model                               # lstm, 256 units
  config.train.learning_rate = baseline.train.learning_rate   # 1e-3
  return config
