"""Long-range recall with Infini-attention (Munkhdalai et al. 2024): a constant-size memory.

XL's sizes (configs/long_range_xl.py) with every layer's local attention mixed with a
compressive memory M `[16, 16]`, z `[16]` per head; gradients flow through M and z across all
5 segments.

The value to recall lies in the first of 5 segments of 16 tokens and the query at
the end of the fifth, >= 4 segments (64+ tokens) back (memjax/tasks/long_range.py;
configs/long_range_xl.py's `far_task`). Transformer-XL with its 32 memory slots per layer
sees 2 segments back and stays near chance (1/8) there:
    python experiments/train.py --config=configs/long_range_xl.py:long --workdir=/tmp/lr5_xl

Run:
    python experiments/train.py --config=configs/long_range_infini_attention.py \
      --workdir=/tmp/long_range_infini_attention
Smoke size (seconds):
    python experiments/train.py --config=configs/long_range_infini_attention.py \
      --workdir=/tmp/smoke --config.train.num_steps=5
"""
import ml_collections

from configs import long_range_xl


def get_config() -> ml_collections.ConfigDict:
  config = long_range_xl.local_memory_config("infini_attention")  # XL's sizes, 5 segments
  config.model.update_rule = "delta" # delta (eq. 5) | linear (eq. 4)
  return config
