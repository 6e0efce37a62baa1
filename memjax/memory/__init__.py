"""Memory access: pure read and erase/add write on unbatched arrays, and memory initialisation."""
from memjax.memory.read_write import erase_and_add, read

__all__ = ["read", "erase_and_add"]
