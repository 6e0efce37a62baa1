"""Long-range recall with causal linear attention as a core (Katharopoulos et al. 2020).

The core reads one token per step (memjax.models.language_models.CoreLM) at XL's sizes
(configs/long_range_xl.py); its fast weights carry the whole sequence.

The value to recall lies in the first of 5 segments of 16 tokens and the query at
the end of the fifth, >= 4 segments (64+ tokens) back (memjax/tasks/long_range.py;
configs/long_range_xl.py's `far_task`). Transformer-XL with its 32 memory slots per layer
sees 2 segments back and stays near chance (1/8) there:
    python experiments/train.py --config=configs/long_range_xl.py:long --workdir=/tmp/lr5_xl

Run:
    python experiments/train.py --config=configs/long_range_linear_attention.py \
      --workdir=/tmp/long_range_linear_attention
Smoke size (seconds):
    python experiments/train.py --config=configs/long_range_linear_attention.py \
      --workdir=/tmp/smoke --config.train.num_steps=5
"""
import ml_collections

from configs import long_range_xl


def get_config() -> ml_collections.ConfigDict:
  config = long_range_xl.get_config("long")  # the answer >= 4 segments back
  config.model = ml_collections.ConfigDict()
  config.model.name = "linear_attention"# memjax/cores/linear_memory.py
  config.model.d_model = 64          # model width (XL's)
  config.model.num_layers = 2        # N layers (XL's)
  config.model.num_heads = 4         # H heads
  config.model.d_ff = 160            # XL's 128 plus its position terms' parameters: XL 79,137,
                                     # linear attention 78,945, delta rule 79,465
  config.eval.mem_len = -1           # no cache of hidden states
  return config
