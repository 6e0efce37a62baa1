"""Repeat copy (Graves et al. 2014, sec. 4.2): lengths 1-10, 1-10 repeats, end marker.

Run:
    python experiments/train.py --config=configs/repeat_copy_ntm.py --workdir=runs/repeat_copy_ntm
"""
import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import copy_ntm  # noqa: E402  (every field and its comment lives there)


def get_config():
  config = copy_ntm.get_config()
  config.task = ml_collections.ConfigDict(dict(
      name="repeat_copy", num_bits=8, min_length=1, max_length=10, min_repeats=1, max_repeats=10))
  config.model.memory_size = 64      # holds the <= 10 input vectors with room to spare
  config.train.target_error = 0.5    # bits/sequence over up to 101 output steps
  config.train.num_steps = 20000
  config.train.eval_batch_size = 500
  config.eval.lengths = (5, 10, 15)
  config.eval.memory_size = 0
  return config
