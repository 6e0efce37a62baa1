"""Data parallelism with `jax.sharding`: one mesh over every device, batch split along `data`.

Parameters and optimizer state are replicated; each step's batch is sharded
along its batch axis, so XLA computes every device's slice of the batch (the
task generators are pure functions of a key, and with partitionable threefry
each device draws only its own slice) and all-reduces the gradients. The same
jitted step runs on 1 CPU, 8 GPUs or a multi-host TPU slice unchanged; on
several hosts, every process runs the same program over the global mesh.
(The bAbI memory-network family splits its vmapped seeds instead of its tiny
batches: `put_batch` of the `[num_seeds, ...]` parameters.)
"""
from typing import Any, Callable, Optional, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from memjax.errors import ConfigError

DATA_AXIS = "data"


def make_mesh(num_devices: Optional[int] = None) -> Mesh:
  """A 1-D mesh named `data` over the first `num_devices` (default: all) global devices."""
  devices = jax.devices()
  if num_devices:
    if num_devices > len(devices):
      raise ConfigError(f"parallel.num_devices={num_devices} but only {len(devices)} devices exist")
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def config_mesh(config) -> Mesh:
  """The mesh of `config.parallel.num_devices` (absent or 0: all devices)."""
  return make_mesh(int(config.get("parallel", {}).get("num_devices", 0) or 0))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "train.batch_size") -> None:
  """The global batch must split evenly over the data axis."""
  num_devices = mesh.shape[DATA_AXIS]
  if batch_size % num_devices:
    raise ConfigError(f"{name}={batch_size} is not divisible by the {num_devices} devices of the "
                      f"data axis; use a multiple of {num_devices}")


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places every leaf, whole, on every device of the mesh."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def batch_sharding(shape, mesh: Mesh, axis: int = 0) -> NamedSharding:
  """Split along `data` if `shape[axis]` (the batch) divides the device count, else replicated."""
  num_devices = mesh.shape[DATA_AXIS]
  if num_devices > 1 and len(shape) > axis and shape[axis] % num_devices == 0:
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), DATA_AXIS))
  return NamedSharding(mesh, PartitionSpec())


def put_batch(tree: Any, mesh: Mesh, axis: int = 0) -> Any:
  """Host leaves with the batch at `axis` -> global arrays split along `data` (`batch_sharding`).

  Outside jit, for data that every process holds whole (a text file's
  streams, a validation batch): each process copies only the rows of its own
  devices (`jax.make_array_from_callback`), so the same call serves one
  device, N local devices and a multi-host slice.
  """
  def put(leaf):
    leaf = np.asarray(leaf)
    return jax.make_array_from_callback(leaf.shape, batch_sharding(leaf.shape, mesh, axis),
                                        lambda index: leaf[index])

  return jax.tree_util.tree_map(put, tree)


def pad_to_devices(tree: Any, mesh: Mesh) -> Tuple[Any, int]:
  """Host leaves `[n, ...]` padded (with copies of their last row) to a multiple of the devices.

  So that an evaluation chunk of any size splits over the mesh; returns
  (padded tree, n): keep the first n rows of the outputs.
  """
  leaves = jax.tree_util.tree_leaves(tree)
  n = int(np.shape(leaves[0])[0])
  extra = -n % mesh.shape[DATA_AXIS]
  if not extra:
    return tree, n
  pad = lambda leaf: np.concatenate([np.asarray(leaf)] + [np.asarray(leaf)[-1:]] * extra)
  return jax.tree_util.tree_map(pad, tree), n


def run_padded(fn: Callable, params: Any, batch: Any, mesh: Mesh) -> Any:
  """`fn(params, batch)` on a host batch `[n, ...]` of any n, split over the mesh.

  Pads the batch to a multiple of the devices (`pad_to_devices`), places it
  (`put_batch`), gathers the outputs (`to_host`) and keeps their first n rows.
  """
  padded, count = pad_to_devices(batch, mesh)
  outputs = to_host(fn(params, put_batch(padded, mesh)))
  return jax.tree_util.tree_map(lambda leaf: leaf[:count], outputs)


def to_host(tree: Any) -> Any:
  """Global arrays -> numpy, whole on every process (an all-gather where a host lacks shards)."""
  def get(leaf):
    if getattr(leaf, "is_fully_addressable", True):
      return np.asarray(leaf)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

  return jax.tree_util.tree_map(get, tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
  """Inside jit: constrains leaves `[batch, ...]` to be split along `data` (no-op on one device).

  Leaves whose batch does not divide the device count stay replicated.
  """
  def constrain(leaf):
    sharding = batch_sharding(leaf.shape, mesh)
    if sharding.spec == PartitionSpec():  # one device, or a batch that does not split
      return leaf
    return jax.lax.with_sharding_constraint(leaf, sharding)

  return jax.tree_util.tree_map(constrain, tree)


def maybe_initialize_distributed(mode: str, coordinator_address: str = "", num_processes: int = 0,
                                 process_id: int = -1) -> bool:
  """Calls `jax.distributed.initialize` for multi-host runs.

  Args:
    mode: "auto" (initialise on a Cloud TPU VM, where JAX finds the slice by
      itself, or when a coordinator address is given), "true", or "false".
    coordinator_address / num_processes / process_id: for clusters that JAX
      cannot detect (e.g. two CPU processes on one machine in the tests).

  Returns:
    Whether it initialised.
  """
  import os
  if mode not in ("auto", "true", "false"):
    raise ConfigError(f"--distributed={mode!r} is not one of auto, true, false")
  on_tpu_vm = bool(os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("TPU_NAME"))
  if mode == "false" or (mode == "auto" and not (on_tpu_vm or coordinator_address)):
    return False
  kwargs = {}
  if coordinator_address:
    kwargs = dict(coordinator_address=coordinator_address, num_processes=num_processes,
                  process_id=process_id)
  jax.distributed.initialize(**kwargs)
  return True
