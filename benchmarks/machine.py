"""Which CPU a benchmark ran on, for its header line and its JSON.

Cloud VMs of one name run on several processor generations: the same 2-core
"AMD EPYC" measured hidden-state XL at 1.32 ms per token at A = 2048 one day
and 0.78-1.09 ms on another (benchmarks/xl_eval_speed.py). Ratios between
memory-bound and compute-bound code move with the host too, so every table
records the processor's family, model and widest vector extension.
"""
import platform
from typing import Dict

_CPUINFO = "/proc/cpuinfo"
# Widest first: the first one the processor has is reported.
_VECTOR_EXTENSIONS = ("avx512f", "avx2", "avx", "sse4_2", "asimd", "neon")


def cpu_info(path: str = _CPUINFO) -> Dict[str, str]:
  """{'model_name', 'family', 'model', 'vector'} of the first processor ('' where unknown)."""
  info = {"model_name": platform.processor() or platform.machine(), "family": "", "model": "",
          "vector": ""}
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return info
  fields = {}
  for line in text.split("\n\n")[0].splitlines():
    key, _, value = line.partition(":")
    fields.setdefault(key.strip(), value.strip())
  info["model_name"] = fields.get("model name", info["model_name"])
  info["family"] = fields.get("cpu family", "")
  info["model"] = fields.get("model", "")
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  info["vector"] = next((ext for ext in _VECTOR_EXTENSIONS if ext in flags), "")
  return info


def describe(info: Dict[str, str] = None) -> str:
  """One line, e.g. 'AMD EPYC (family 25, model 17, avx512f)'."""
  info = cpu_info() if info is None else info
  details = [f"family {info['family']}" if info["family"] else "",
             f"model {info['model']}" if info["model"] else "", info["vector"]]
  details = ", ".join(d for d in details if d)
  return f"{info['model_name']} ({details})" if details else info["model_name"]
