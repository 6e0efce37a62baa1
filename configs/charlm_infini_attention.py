"""Infini-attention character LM (Munkhdalai et al. 2024) on tiny Shakespeare at XL's sizes.

configs/charlm_transformer_xl.py with the model block replaced: the same width,
layers, heads and feed-forward (parameters: XL's plus one gate per head), local
attention within each 32-character segment, and per layer and head a compressive
memory M `[32, 32]` plus z `[32]` (4,224 floats a layer, XL's memory 32 x 128 = 4,096).

Run:
    python experiments/train.py --config=configs/charlm_infini_attention.py \
      --workdir=/tmp/charlm_infini
Linear update rule (eq. 4) instead of the delta rule (eq. 5):
    python experiments/train.py --config=configs/charlm_infini_attention.py \
      --workdir=/tmp/charlm_infini_linear --config.model.update_rule=linear
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_infini_attention.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 \
      --config.eval.max_segments=2 --config.eval.sample_length=8
"""
import ml_collections

from configs import charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_transformer_xl.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "infini_attention"  # memjax.transformer.infini_attention.InfiniTransformer
  config.model.d_model = 128         # model width (XL's)
  config.model.num_layers = 3        # N layers (XL's)
  config.model.num_heads = 4         # H heads, d_key = d_value = d_model / H
  config.model.d_ff = 512            # feed-forward width (XL's)
  config.model.clamp_len = -1        # local attention spans one segment: no clamping needed
  config.model.dropout = 0.0         # training dropout rate
  config.model.update_rule = "delta" # delta (eq. 5) | linear (eq. 4)
  config.eval.mem_len = -1           # no cache of hidden states: the memory is M and z
  config.eval.compare_mem_lens = ()
  return config
