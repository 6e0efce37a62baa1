"""LSTM baseline on copy (lengths 1-20), same task, family and evaluation as configs/copy_ntm.py.

Run:
    python experiments/train.py --config=configs/copy_lstm.py --workdir=/tmp/copy_lstm
"""
import ml_collections

from configs import copy_ntm


def get_config():
  config = copy_ntm.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "lstm"          # lstm | gru
  config.model.hidden_size = 256      # recurrent units
  config.train.num_steps = 20000
  config.train.learning_rate = 1e-3
  config.eval.lengths = (10, 20, 40)
  return config
