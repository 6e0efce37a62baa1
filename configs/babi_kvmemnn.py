"""Renamed to configs/babi_kv_memnn.py (key-value memories are spelt kv_ everywhere)."""
from memjax import config_helpers as common


def get_config(arg=None):
  del arg
  raise common.renamed_config("babi_kvmemnn.py", "babi_kv_memnn.py")
