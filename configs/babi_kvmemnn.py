"""Key-value memory network on bAbI (Miller et al. 2016), joint 1k, PE keys/values, 3 hops.

Same data, schedule and seeds as configs/babi_memn2n.py (the authors' MemN2N
recipe: SGD, summed loss, per-matrix clipping at 40, linear start, random
noise); only the model differs: keys and values are separate encodings of each
statement and the query is updated per hop by its own R_j: q' = R_j(q + o).

Run:
    python experiments/train.py --config=configs/babi_kvmemnn.py --workdir=/tmp/babi_kvmemnn
Per task or 10k:
    python experiments/train.py --config=configs/babi_kvmemnn.py:per_task --workdir=/tmp/babi_kv_pt
    python experiments/train.py --config=configs/babi_kvmemnn.py:10k --workdir=/tmp/babi_kv_10k
Smoke size (seconds):
    python experiments/train.py --config=configs/babi_kvmemnn.py --workdir=/tmp/smoke_kv \
      --config.data.tasks=1, --config.num_seeds=2 --config.train.num_epochs=2 \
      --config.train.ls_epochs=1
"""
import importlib.util
import pathlib

import ml_collections


def _memn2n_config(arg: str) -> ml_collections.ConfigDict:
  # Configs are loaded by path (config_flags), so import the sibling file by path too.
  path = pathlib.Path(__file__).with_name("babi_memn2n.py")
  spec = importlib.util.spec_from_file_location("babi_memn2n_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg` = "[per_task][,10k]"."""
  options = [p for p in (arg or "").split(",") if p]
  config = _memn2n_config(",".join(["pe_ls_rn"] + options))
  config.label = "KV PE+LS+RN"          # row name in the results table
  config.model.name = "kvmemnn"         # memjax.models.kvmemnn
  config.model.tying = "none"           # unused: KV-MemNN has one A for query and keys, AV, B, R_j
  return config
