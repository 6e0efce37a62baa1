"""Compressive Transformer character LM (Rae et al. 2019) at XL's attention span.

XL (configs/charlm_transformer_xl.py) attends to 32 memory slots per layer;
this model attends to 16 memory + 16 compressed slots (rate 2), the same 32
slots, but they cover 16 + 32 = 48 past tokens.

Run:
    python experiments/train.py --config=configs/charlm_compressive.py --workdir=/tmp/charlm_cmp
The docs/results.md equal-span comparison (4,000 steps, seed 0, one core each):
    taskset -c 1 python experiments/train.py --config=configs/charlm_transformer_xl.py \
      --workdir=/tmp/xl_s0 --config.train.num_steps=4000 --config.train.eval_every=1000 \
      --config.eval.mem_len=32
    taskset -c 1 python experiments/train.py --config=configs/charlm_compressive.py \
      --workdir=/tmp/cmp_s0 --config.train.num_steps=4000 --config.train.eval_every=1000
    (mean-pool row: add --config.model.compression_function=mean_pool)
    (seed-1 rows: --config.seed=1 --config.train.num_steps=2000 in both commands)
The docs/results.md span-16 comparison (2,000 steps, seeds 0 and 1 via --config.seed):
    python experiments/train.py --config=configs/charlm_transformer_xl.py --workdir=/tmp/xl16 \
      --config.model.mem_len=16 --config.eval.mem_len=16
    python experiments/train.py --config=configs/charlm_compressive.py --workdir=/tmp/cmp8 \
      --config.model.mem_len=8 --config.model.compressed_mem_len=8 \
      --config.model.compression_rate=4 --config.eval.mem_len=8
    (mean-pool row: add --config.model.compression_function=mean_pool)
    (span-8 rows: XL --config.model.mem_len=8 --config.eval.mem_len=8; compressive
     --config.model.mem_len=4 --config.model.compressed_mem_len=4
     --config.model.compression_rate=8 --config.eval.mem_len=4)
The docs/results.md segment-8 comparison (2,000 steps of 64 streams x 8 characters,
evaluated in segments of 8; seeds 0-9 via --config.seed, mean pool 0-4; one core each):
    S8="--config.train.seg_len=8 --config.train.batch_size=64 --config.eval.seg_len=8 --config.train.eval_every=1000"
    python experiments/train.py --config=configs/charlm_transformer_xl.py --workdir=/tmp/xl8 $S8 \
      --config.model.mem_len=8 --config.eval.mem_len=8
    python experiments/train.py --config=configs/charlm_compressive.py --workdir=/tmp/cmp4 $S8 \
      --config.model.mem_len=4 --config.model.compressed_mem_len=4 --config.model.compression_rate=4 \
      --config.eval.mem_len=4 --config.model.compression_function=mean_pool
    (conv rows: leave out compression_function; rate-8 row: --config.model.compression_rate=8;
     XL rows with memory 0 / 16: --config.model.mem_len=0 --config.eval.mem_len=0 / 16 and 16)
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_compressive.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 --config.eval.max_segments=2
"""
import ml_collections

from configs import charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_transformer_xl.get_config()
  config.model.name = "compressive"          # CompressiveTransformer
  config.model.mem_len = 16                  # uncompressed memory slots per layer
  config.model.compressed_mem_len = 16       # compressed memory slots per layer
  config.model.compression_rate = 2          # c: each compressed slot summarises c states
  config.model.compression_function = "conv" # max_pool | mean_pool | conv | most_used
  config.train.reconstruction_weight = 1.0   # weight of the attention-reconstruction loss
  config.eval.mem_len = 16                   # evaluation memory: 16 + 16 compressed = XL's 32 slots
  return config
