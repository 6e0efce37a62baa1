"""DNC on associative recall (Graves et al. 2014, sec. 4.3): 2-6 items of 3 six-bit vectors.

The task, training and evaluation fields are those of configs/associative_recall_ntm.py (each
commented in configs/copy_ntm.py); only the model block is the DNC's
(memjax/cores/dnc.py), and training runs to target error 0.1. As there, 4 seeds train
at once and the run stops at the first solved one (`train.stop_when = "any"`).

Run:
    python experiments/train.py --config=configs/associative_recall_dnc.py --workdir=/tmp/associative_recall_dnc
Smoke size (seconds):
    python experiments/train.py --config=configs/associative_recall_dnc.py --workdir=/tmp/smoke_associative_recall_dnc \
      --config.train.num_steps=20 --config.task.max_length=3 --config.model.memory_size=16
"""
from configs import associative_recall_ntm
from configs.copy_dnc import dnc_model


def get_config():
  config = associative_recall_ntm.get_config()
  config.model = dnc_model(memory_size=32, num_read_heads=4)
  config.train.learning_rate = 3e-3
  config.train.target_error = 0.1
  config.train.num_steps = 20000
  config.eval.lengths = (6, 8, 10)
  config.eval.memory_size = 0
  return config
