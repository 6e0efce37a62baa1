"""Long-range recall with the delta-rule fast-weight memory as a core (Schlag et al. 2021).

The core reads one token per step (memjax.models.language_models.CoreLM) at XL's sizes
(configs/long_range_xl.py); its fast weights carry the whole sequence.

The value to recall lies in the first of 5 segments of 16 tokens and the query at
the end of the fifth, >= 4 segments (64+ tokens) back (memjax/tasks/long_range.py;
configs/long_range_xl.py's `far_task`). Transformer-XL with its 32 memory slots per layer
sees 2 segments back and stays near chance (1/8) there:
    python experiments/train.py --config=configs/long_range_xl.py:long --workdir=/tmp/lr5_xl

Run:
    python experiments/train.py --config=configs/long_range_delta_rule.py \
      --workdir=/tmp/long_range_delta_rule
Smoke size (seconds):
    python experiments/train.py --config=configs/long_range_delta_rule.py \
      --workdir=/tmp/smoke --config.train.num_steps=5
"""
import ml_collections

from configs import long_range_linear_attention


def get_config() -> ml_collections.ConfigDict:
  # configs/long_range_linear_attention.py's task, sizes and training (the two cores share
  # their fields), with the delta-rule update.
  config = long_range_linear_attention.get_config()
  config.model.name = "delta_rule"   # memjax/cores/linear_memory.py
  return config
