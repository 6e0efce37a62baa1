"""DNC on repeat copy (Graves et al. 2014, sec. 4.2): lengths 1-10, 1-10 repeats, 8 bits.

The task, training and evaluation fields are those of configs/repeat_copy_ntm.py (each
commented in configs/copy_ntm.py); only the model block is the DNC's
(memjax/cores/dnc.py). As there, 2 seeds train at once and the run stops at the
first one under 0.5 bits/seq (`train.stop_when = "any"`). Results: docs/results.md.

Run:
    python experiments/train.py --config=configs/repeat_copy_dnc.py --workdir=/tmp/repeat_copy_dnc
Smoke size (seconds):
    python experiments/train.py --config=configs/repeat_copy_dnc.py --workdir=/tmp/smoke_repeat_copy_dnc \
      --config.train.num_steps=20 --config.task.max_length=3 --config.task.max_repeats=2 --config.model.memory_size=8
"""
from configs import repeat_copy_ntm
from configs.copy_dnc import dnc_model


def get_config():
  config = repeat_copy_ntm.get_config()
  config.model = dnc_model(memory_size=16, num_read_heads=1)
  config.train.learning_rate = 3e-3
  config.train.target_error = 0.5    # as the NTM's repeat copy
  config.train.num_steps = 20000
  config.eval.lengths = (5, 10, 15)
  config.eval.memory_size = 0
  return config
