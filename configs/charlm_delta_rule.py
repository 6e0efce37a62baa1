"""The delta-rule fast-weight memory (Schlag et al. 2021) as a character LM on tiny
Shakespeare, at XL's sizes and optimiser.

The core `delta_rule` (memjax/cores/linear_memory.py) through
configs/charlm_core.py, reading one character per step; its defaults are
configs/charlm_transformer_xl.py's width, layers and heads, its feed-forward
blocks take the parameters XL spends on position terms (equal parameters), and it
trains with XL's learning rate and clipping, so that the two compare at equal steps.

Run:
    python experiments/train.py --config=configs/charlm_delta_rule.py \
      --workdir=/tmp/charlm_delta_rule
The same core with the recurrent cores' optimiser settings:
    python experiments/train.py --config=configs/charlm_core.py:delta_rule \
      --workdir=/tmp/charlm_delta_rule_core
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_delta_rule.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 \
      --config.eval.max_segments=2 --config.eval.sample_length=8
"""
import ml_collections

from configs import charlm_linear_attention


def get_config() -> ml_collections.ConfigDict:
  # configs/charlm_linear_attention.py's sizes and training (the two cores share their fields), with the
  # delta-rule update.
  config = charlm_linear_attention.get_config()
  config.model.name = "delta_rule"   # memjax/cores/linear_memory.py
  return config
