"""DNC on priority sort (Graves et al. 2014, sec. 4.5): 20 vectors in, the 16 highest-priority out, sorted.

The task, training and evaluation fields are those of configs/priority_sort_ntm.py (each
commented in configs/copy_ntm.py); only the model block is the DNC's
(memjax/cores/dnc.py), and training runs to target error 0.1.

Run:
    python experiments/train.py --config=configs/priority_sort_dnc.py --workdir=/tmp/priority_sort_dnc
Smoke size (seconds):
    python experiments/train.py --config=configs/priority_sort_dnc.py --workdir=/tmp/smoke_priority_sort_dnc \
      --config.train.num_steps=20 --config.task.min_length=5 --config.task.max_length=5 \
      --config.task.num_outputs=4 --config.model.memory_size=8
"""
from configs import priority_sort_ntm
from configs.copy_dnc import dnc_model


def get_config():
  config = priority_sort_ntm.get_config()
  config.model = dnc_model(memory_size=32, num_read_heads=4)
  config.train.learning_rate = 3e-3
  config.train.target_error = 0.1
  config.train.num_steps = 20000
  config.eval.lengths = (20,)
  config.eval.memory_size = 0
  return config
