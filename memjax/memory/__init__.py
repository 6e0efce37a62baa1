"""Memory access: pure read and erase/add write (`read_write.py`), and an NTM step's whole
access (write addressing, erase/add, read addressing, read) as one op with a hand-written
backward pass (`ntm_access.py`)."""
from memjax.memory.ntm_access import write_then_read
from memjax.memory.read_write import (erase_and_add, erase_and_add_transposed, read,
                                     read_transposed)

__all__ = ["read", "erase_and_add", "read_transposed", "erase_and_add_transposed",
           "write_then_read"]
