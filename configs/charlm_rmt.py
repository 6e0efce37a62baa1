"""Recurrent Memory Transformer character LM (Bulatov et al. 2022) on tiny Shakespeare at XL's
sizes.

configs/charlm_transformer_xl.py with the model block replaced: the same width,
layers, heads and feed-forward (parameters: XL's plus the 16 x 128 initial memory),
causal attention over [16 read memory tokens; 32 characters; 16 write memory tokens].
Each training step reads 4 consecutive segments of every row (`train.segments_per_step`,
the char_lm family) with the memory threaded through them inside the loss, so the
write tokens are trained by the gradient of the later segments' loss (backpropagation
through the memory, truncated to the step's 4 segments). `model.bptt_segments = 4`
cuts where the step does, at its first segment: windows start at multiples of 4 from
a row's start, and the memory entering a step holds no gradient (with
`train.carry_reset_probability` > 0 a row's count restarts mid-window and its cuts
would fall inside windows; 0 would then keep the step's whole window). With one
segment per step the write tokens would be trained by no gradient at all.

The other values are XL's, num_steps included: 2,000 steps here read 4x the
characters XL's 2,000 do (8,000 segments of 16 x 32, about 4 passes over tiny
Shakespeare's training text), at 4x the computation per step. At XL's characters:
--config.train.num_steps=500 --config.train.warmup_steps=25.

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
  config.model.bptt_segments = 4     # segments the gradient crosses through memory (0: all)
  config.train.segments_per_step = 4 # each step: 4 segments, the memory carried with gradient
  config.eval.mem_len = -1           # no cache of hidden states: the memory is M_s
  config.eval.compare_mem_lens = ()
  return config
