"""Memory cores: recurrent modules with `initialize_carry` and `__call__(carry, x)`.

- `base.py`       the contract (`MemoryCore`), `check_core` and `init_core`
- `unroll.py`     `dynamic_unroll` (lax.scan) and `static_unroll` (Python twin), with resets
- `ntm.py`        Neural Turing Machine
- `dnc.py`        Differentiable Neural Computer
- `recurrent.py`  LSTM and GRU baselines
- `linear_memory.py`  fast-weight memories: linear attention and the delta rule
- `registry.py`   `build_core(name, ...)` used by configs
"""
from memjax.cores.base import MemoryCore, check_core, init_core, initial_carry
from memjax.cores.dnc import DNC, AccessState, DNCState
from memjax.cores.linear_memory import (DeltaRuleCore, DeltaRuleState, LinearAttentionCore,
                                        LinearAttentionState)
from memjax.cores.ntm import NTM, NTMState
from memjax.cores.recurrent import GRUCore, GRUState, LSTMCore, LSTMState
from memjax.cores.registry import build_core, register_core
from memjax.cores.unroll import dynamic_unroll, static_unroll

__all__ = ["DNC", "DNCState", "AccessState", "MemoryCore", "check_core", "init_core",
           "initial_carry", "NTM", "NTMState", "LSTMCore", "LSTMState", "GRUCore", "GRUState",
           "dynamic_unroll", "static_unroll", "build_core", "register_core",
           "LinearAttentionCore", "LinearAttentionState", "DeltaRuleCore", "DeltaRuleState"]
