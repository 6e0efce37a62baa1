"""DNC (Graves et al. 2016) on copy (Graves et al. 2014, sec. 4.1): lengths 1-20, 8-bit vectors.

The task, training and evaluation fields are those of configs/copy_ntm.py
(each commented there); only the model block is the DNC's. `dnc_model` is
shared by the other DNC configs.

Run:
    python experiments/train.py --config=configs/copy_dnc.py --workdir=/tmp/copy_dnc
Smoke size (seconds):
    python experiments/train.py --config=configs/copy_dnc.py --workdir=/tmp/smoke_copy_dnc \
      --config.train.num_steps=20 --config.task.max_length=5 --config.model.memory_size=8
"""
import ml_collections

from configs import copy_ntm


def dnc_model(memory_size: int = 32, num_read_heads: int = 1) -> ml_collections.ConfigDict:
  model = ml_collections.ConfigDict()
  model.name = "dnc"                  # memjax/cores/dnc.py
  model.controller_size = 64          # LSTM controller hidden units
  model.memory_size = memory_size     # N slots (>= items to store; the link matrix is N x N)
  model.word_size = 16                # W, width of a slot
  model.num_read_heads = num_read_heads  # R read heads (backward / content / forward modes each)
  model.num_write_heads = 1           # the paper's single write head
  model.clip_value = 20.0             # controller and core outputs clipped to +-this (0: off)
  return model


def get_config():
  config = copy_ntm.get_config()
  config.model = dnc_model(memory_size=32, num_read_heads=1)
  config.train.learning_rate = 3e-3
  config.train.num_steps = 20000
  config.eval.lengths = (10, 20, 30)  # <= memory_size
  config.eval.memory_size = 0
  return config
