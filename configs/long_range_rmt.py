"""Long-range recall with the Recurrent Memory Transformer (Bulatov et al. 2022).

XL's sizes (configs/long_range_xl.py) over [8 read memory tokens; 16 tokens; 8 write
memory tokens]; gradients flow through the memory across all 5 segments
(`bptt_segments = 5`; fewer truncates the backpropagation).

The value to recall lies in the first of 5 segments of 16 tokens and the query at
the end of the fifth, >= 4 segments (64+ tokens) back (memjax/tasks/long_range.py;
configs/long_range_xl.py's `far_task`). Transformer-XL with its 32 memory slots per layer
sees 2 segments back and stays near chance (1/8) there:
    python experiments/train.py --config=configs/long_range_xl.py:long --workdir=/tmp/lr5_xl

Run:
    python experiments/train.py --config=configs/long_range_rmt.py \
      --workdir=/tmp/long_range_rmt
Smoke size (seconds):
    python experiments/train.py --config=configs/long_range_rmt.py \
      --workdir=/tmp/smoke --config.train.num_steps=5
"""
import ml_collections

from configs import long_range_xl


def get_config() -> ml_collections.ConfigDict:
  config = long_range_xl.local_memory_config("rmt")  # XL's sizes, 5 segments
  config.model.num_memory_tokens = 8 # m read and m write tokens per segment
  config.model.bptt_segments = 5     # segments the gradient crosses through memory (0: all)
  return config
