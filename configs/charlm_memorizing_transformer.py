"""Memorizing Transformer character LM (Wu et al. 2022) on tiny Shakespeare at XL's sizes.

configs/charlm_transformer_xl.py with the model block replaced: the same width,
layers, heads and feed-forward (parameters: XL's plus two scalars per head),
local attention within each 32-character segment, and the top layer also
attending to the top 32 (XL's 32 memory slots) of a FIFO memory of the last 256
characters' (key, value) pairs per head.

Run:
    python experiments/train.py --config=configs/charlm_memorizing_transformer.py \
      --workdir=/tmp/charlm_knn
Approximate top-k (jax.lax.approx_max_k; exact on CPU):
    python experiments/train.py --config=configs/charlm_memorizing_transformer.py \
      --workdir=/tmp/charlm_knn_approx --config.model.top_k=approx
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_memorizing_transformer.py \
      --workdir=/tmp/smoke --config.train.num_steps=5 --config.train.warmup_steps=1 \
      --config.model.num_layers=1 --config.eval.max_segments=2 --config.eval.sample_length=8
"""
import ml_collections

from configs import charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_transformer_xl.get_config()
  config.model = ml_collections.ConfigDict()
  config.model.name = "memorizing_transformer"  # memjax.transformer.knn_memory
  config.model.d_model = 128         # model width (XL's)
  config.model.num_layers = 3        # N layers (XL's)
  config.model.num_heads = 4         # H heads
  config.model.d_ff = 512            # feed-forward width (XL's)
  config.model.clamp_len = -1        # local attention spans one segment
  config.model.dropout = 0.0         # training dropout rate
  config.model.memory_size = 256     # (key, value) pairs per head, FIFO
  config.model.num_neighbours = 32   # top-k retrieved per query (XL's 32 memory slots)
  config.model.memory_layer = -1     # the kNN layer (-1: the top one)
  config.model.top_k = "exact"       # exact (lax.top_k) | approx (lax.approx_max_k)
  config.model.scale_init = 0.0      # retrieval scale g at initialisation (0: sqrt(d_head))
  config.eval.mem_len = -1           # no cache of hidden states: the memory is the kNN memory
  config.eval.compare_mem_lens = ()
  return config
