"""Associative recall (Graves et al. 2014, sec. 4.3): 2-6 items of 3 six-bit vectors.

Four seeds train at once (vmapped) and the run stops as soon as one of them is
below `train.target_error` on 1,000 fresh sequences (best of 4, as NTM papers
report their best runs). Results: docs/results.md.

Run:
    python experiments/train.py --config=configs/associative_recall_ntm.py --workdir=runs/associative_recall_ntm
"""
import ml_collections

from configs import copy_ntm


def get_config():
  config = copy_ntm.get_config()
  config.seed = 1
  config.num_seeds = 4               # best of 4: single seeds often sit on a ~3-5 bit plateau
  config.task = ml_collections.ConfigDict(dict(
      name="associative_recall", num_bits=6, item_length=3, min_length=2, max_length=6))
  config.model.memory_size = 64      # 6 items x 4 steps fit easily
  config.train.learning_rate = 2e-3
  config.train.target_error = 0.1    # bits/sequence over the 18 answer bits
  config.train.stop_when = "any"     # stop when the first seed is solved
  config.train.num_steps = 40000
  config.train.eval_every = 1000
  config.train.checkpoint_every = 2000
  config.eval.lengths = (6, 10, 12)  # number of items; the paper tests up to 12 (and beyond)
  config.eval.memory_size = 128
  return config
