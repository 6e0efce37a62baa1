"""Renamed to configs/kbqa_kv_memory.py (key-value memories are spelt kv_ everywhere)."""
from memjax import config_helpers as common


def get_config(arg=None):
  del arg
  raise common.renamed_config("kbqa_kvmemory.py", "kbqa_kv_memory.py")
