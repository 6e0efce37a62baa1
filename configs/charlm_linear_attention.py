"""Causal linear attention (Katharopoulos et al. 2020) as a character LM on tiny Shakespeare,
at XL's sizes and optimiser.

The core `linear_attention` (memjax/cores/linear_memory.py) through
configs/charlm_core.py, reading one character per step; its defaults are
configs/charlm_transformer_xl.py's width, layers and heads, its feed-forward
blocks take the parameters XL spends on position terms (equal parameters), and it
trains with XL's learning rate and clipping, so that the two compare at equal steps.

Run:
    python experiments/train.py --config=configs/charlm_linear_attention.py \
      --workdir=/tmp/charlm_linear_attention
The same core with the recurrent cores' optimiser settings:
    python experiments/train.py --config=configs/charlm_core.py:linear_attention \
      --workdir=/tmp/charlm_linear_attention_core
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_linear_attention.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 \
      --config.eval.max_segments=2 --config.eval.sample_length=8
"""
import ml_collections

from configs import charlm_core, charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_core.get_config("linear_attention")
  xl = charlm_transformer_xl.get_config()
  config.model.d_model = xl.model.d_model        # model width
  config.model.num_layers = xl.model.num_layers  # N layers
  config.model.num_heads = xl.model.num_heads    # H heads, d_key = d_value = d_model / H
  # XL's feed-forward width plus 64: the 3 x (128 x 128 + 2 x 128) parameters of XL's position
  # terms (W_{k,R}, u, v), which a core has no use for, go to the feed-forward blocks, so the
  # parameters match XL's within 0.2% (XL 659,905; linear attention 659,329; delta 660,877).
  config.model.d_ff = xl.model.d_ff + 64         # feed-forward width
  config.train.learning_rate = xl.train.learning_rate    # XL's peak learning rate
  config.train.grad_clip_norm = xl.train.grad_clip_norm  # XL's clipping
  return config
