"""The vanilla baseline (mem_len = 0) for configs/charlm_transformer_xl.py: same parameters and segments.

Run:
    python experiments/train.py --config=configs/charlm_vanilla.py --workdir=/tmp/charlm_vanilla
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_vanilla.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 --config.eval.max_segments=2
"""
import ml_collections

from configs import charlm_transformer_xl


def get_config() -> ml_collections.ConfigDict:
  config = charlm_transformer_xl.get_config()
  config.model.name = "vanilla"      # TransformerXL with no memory: context = the current segment
  config.model.mem_len = 0           # no memory (the only difference from the XL config)
  config.eval.mem_len = 0            # evaluated on the same segments, still without memory
  config.eval.compare_mem_lens = ()  # a memory would change the model, not evaluate it
  return config
