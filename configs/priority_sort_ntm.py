"""Priority sort (Graves et al. 2014, sec. 4.5): 20 prioritised vectors in, the 16 highest out, sorted.

Run:
    python experiments/train.py --config=configs/priority_sort_ntm.py --workdir=runs/priority_sort_ntm
"""
import ml_collections

from configs import copy_ntm


def get_config():
  config = copy_ntm.get_config()
  config.task = ml_collections.ConfigDict(dict(
      name="priority_sort", num_bits=8, min_length=20, max_length=20, num_outputs=16))
  config.model.num_read_heads = 4    # the paper used eight heads with a feed-forward controller
  config.model.num_write_heads = 4
  config.model.memory_size = 64
  config.train.target_error = 0.5
  config.train.learning_rate = 2e-3
  config.train.schedule = "cosine"    # decays to 0 over num_steps: the last ~10k steps do the most
  config.train.num_steps = 28000
  config.train.eval_every = 1000
  config.train.checkpoint_every = 1000
  config.eval.lengths = (20,)
  config.eval.memory_size = 0
  return config
