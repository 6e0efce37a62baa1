"""Copy with the example `tape_memory` core (examples/tape_memory.py), sized to train in about
a minute on one CPU core (lengths 1-8; 0.08 bits/sequence by step 1,480 on seed 0).

Run:
    python experiments/train.py --import=examples/tape_memory.py \
        --config=examples/copy_tape_memory_config.py --workdir=/tmp/tape
"""
import ml_collections

from configs import copy_ntm  # same task, family and evaluation; only the model block differs


def get_config():
  config = copy_ntm.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "tape_memory"   # registered by examples/tape_memory.py
  config.model.tape_size = 12         # cells: the sequence plus the home cell, and room to spare
  config.model.width = 16             # numbers per cell
  config.model.controller_size = 64   # LSTM controller units
  config.task.max_length = 8
  config.train.num_steps = 3000
  config.train.eval_every = 250
  config.train.eval_batch_size = 200
  config.eval.lengths = (8, 10)
  # Needs the task, so it lives here rather than in the core (which never sees the task).
  if config.model.tape_size < config.task.max_length + 2:
    raise ValueError(f"model.tape_size={config.model.tape_size} cannot hold "
                     f"task.max_length={config.task.max_length} items and the home cell")
  return config
