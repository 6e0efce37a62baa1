"""Recurrent Memory Transformer character LM (Bulatov et al. 2022) on tiny Shakespeare at XL's
sizes.

configs/charlm_transformer_xl.py with the model block replaced: the same width,
layers, heads and feed-forward (parameters: XL's plus the 16 x 128 initial memory),
causal attention over [16 read memory tokens; 32 characters; 16 write memory tokens].
Each training step is one segment (the char_lm family), so the loss reaches the
memory written by the previous step only through the forward pass: the write tokens
are trained by no gradient across segments here; long_range trains them
(configs/long_range_rmt.py).

Run:
    python experiments/train.py --config=configs/charlm_rmt.py --workdir=/tmp/charlm_rmt
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_rmt.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 \
      --config.eval.max_segments=2 --config.eval.sample_length=8
"""
import ml_collections

from configs import charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_transformer_xl.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "rmt"          # memjax.transformer.recurrent_memory
  config.model.d_model = 128         # model width (XL's)
  config.model.num_layers = 3        # N layers (XL's)
  config.model.num_heads = 4         # H heads
  config.model.d_ff = 512            # feed-forward width (XL's)
  config.model.clamp_len = -1        # attention spans one segment and its memory tokens
  config.model.dropout = 0.0         # training dropout rate
  config.model.num_memory_tokens = 16  # m read and m write tokens per segment
  config.model.bptt_segments = 0     # segments the gradient crosses through memory (0: all)
  config.eval.mem_len = -1           # no cache of hidden states: the memory is M_s
  config.eval.compare_mem_lens = ()
  return config
