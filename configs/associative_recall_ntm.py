"""Associative recall (Graves et al. 2014, sec. 4.3): 2-6 items of 3 six-bit vectors.

Run:
    python experiments/train.py --config=configs/associative_recall_ntm.py --workdir=runs/associative_recall_ntm
"""
import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import copy_ntm  # noqa: E402  (every field and its comment lives there)


def get_config():
  config = copy_ntm.get_config()
  config.task = ml_collections.ConfigDict(dict(
      name="associative_recall", num_bits=6, item_length=3, min_length=2, max_length=6))
  config.model.memory_size = 64      # 6 items x 4 steps fit easily
  config.train.target_error = 0.5    # bits/sequence over the 18 answer bits
  config.train.num_steps = 20000
  config.eval.lengths = (6, 10, 12)  # number of items; the paper tests up to 12 (and beyond)
  config.eval.memory_size = 128
  return config
