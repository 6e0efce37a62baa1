"""Repeat copy (Graves et al. 2014, sec. 4.2): lengths 1-10, 1-10 repeats, end marker.

Two seeds train at once (vmapped); the run stops when the first is below
`train.target_error` on 500 fresh sequences. Results: docs/results.md.

Run:
    python experiments/train.py --config=configs/repeat_copy_ntm.py --workdir=runs/repeat_copy_ntm
"""
import ml_collections

from configs import copy_ntm


def get_config():
  config = copy_ntm.get_config()
  config.task = ml_collections.ConfigDict(dict(
      name="repeat_copy", num_bits=8, min_length=1, max_length=10, min_repeats=1, max_repeats=10))
  config.seed = 1
  config.num_seeds = 2               # best of 2
  config.model.memory_size = 64      # holds the <= 10 input vectors with room to spare
  config.train.learning_rate = 3e-3
  config.train.stop_when = "any"     # stop when the first seed is solved
  config.train.eval_every = 1000
  config.train.checkpoint_every = 1000
  config.train.target_error = 0.5    # bits/sequence over up to 101 output steps
  config.train.num_steps = 15000
  config.train.eval_batch_size = 500
  config.eval.lengths = (5, 10, 15)
  config.eval.memory_size = 0
  return config
