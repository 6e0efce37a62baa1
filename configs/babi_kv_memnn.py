"""Key-value memory network on bAbI (Miller et al. 2016), joint 1k, PE keys/values, 3 hops.

Same data, schedule and seeds as configs/babi_memn2n.py (the authors' MemN2N
recipe: SGD, summed loss, per-matrix clipping at 40, linear start, random
noise); only the model differs: keys and values are separate encodings of each
statement and the query is updated per hop by its own R_j: q' = R_j(q + o).

Run:
    python experiments/train.py --config=configs/babi_kv_memnn.py --workdir=/tmp/babi_kv_memnn
Per task or 10k:
    python experiments/train.py --config=configs/babi_kv_memnn.py:per_task --workdir=/tmp/babi_kv_pt
    python experiments/train.py --config=configs/babi_kv_memnn.py:10k --workdir=/tmp/babi_kv_10k
Smoke size (seconds):
    python experiments/train.py --config=configs/babi_kv_memnn.py --workdir=/tmp/smoke_kv \
      --config.data.tasks=1, --config.num_seeds=2 --config.train.num_epochs=2 \
      --config.train.ls_epochs=1
"""
import ml_collections

from configs import babi_memn2n
from memjax import config_helpers as common


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg` = "[per_task][,10k]"."""
  options = common.parse_arg(arg, __file__, mode=("joint", "per_task"), size=("1k", "10k"))
  config = babi_memn2n.get_config(f"pe_ls_rn,{options.mode},{options.size}")
  config.label = "KV PE+LS+RN"          # row name in the results table
  config.model.name = "kv_memnn"        # memjax.models.kv_memnn
  config.model.tying = "none"           # unused: KV-MemNN has one A for query and keys, AV, B, R_j
  return config
