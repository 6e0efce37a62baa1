"""Algorithmic tasks from the NTM paper as pure, jit-able JAX generators.

`build_task(name, **fields)` builds one from a config's `task` block.
"""
from memjax.tasks.associative_recall import AssociativeRecallTask
from memjax.tasks.base import AlgorithmicTask, SequenceBatch, bits_error_per_sequence
from memjax.tasks.copy import CopyTask
from memjax.tasks.long_range import LongRangeRecallTask, TokenBatch
from memjax.tasks.priority_sort import PrioritySortTask
from memjax.tasks.repeat_copy import RepeatCopyTask

TASKS = {
    "copy": CopyTask,
    "repeat_copy": RepeatCopyTask,
    "associative_recall": AssociativeRecallTask,
    "priority_sort": PrioritySortTask,
}


def build_task(name: str, **fields) -> AlgorithmicTask:
  """Builds task `name` from keyword fields; errors name the bad key."""
  if name not in TASKS:
    raise ValueError(f"task.name={name!r} is not one of {sorted(TASKS)}")
  import dataclasses
  allowed = {f.name for f in dataclasses.fields(TASKS[name])}
  unknown = sorted(set(fields) - allowed)
  if unknown:
    raise ValueError(f"task.{unknown[0]} is not a field of task {name!r}; "
                     f"its fields are {sorted(allowed)}")
  return TASKS[name](**fields)


__all__ = ["AlgorithmicTask", "SequenceBatch", "bits_error_per_sequence", "build_task", "TASKS",
           "CopyTask", "RepeatCopyTask", "AssociativeRecallTask", "PrioritySortTask"]
