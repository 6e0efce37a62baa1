"""Speed and memory of the DNC's dense temporal linkage vs the K-sparse one (SDNC).

    python benchmarks/dnc_sparse_linkage.py --sizes=64,256,1024 --num_entries=8 --batch=16

For each memory size N, times one jitted, batched linkage step (link update,
precedence update, forward and backward weightings for `--num_reads` heads)
of `memjax/addressing/temporal_linkage.py` (O(N^2)) and
`memjax/addressing/sparse_linkage.py` (O(N K^2)), and reports the linkage
state's bytes per example. Prints a markdown table.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from memjax.addressing import sparse_linkage, temporal_linkage  # noqa: E402


def _dense_step(state, write_weights, read_weights):
  state = temporal_linkage.update_linkage(state, write_weights)
  forward, backward = temporal_linkage.directional_weights(state.link, read_weights)
  return state, forward.sum() + backward.sum()


def _sparse_step(state, write_weights, read_weights):
  state = sparse_linkage.update_sparse_linkage(state, write_weights)
  values, indices = state.values[0], state.indices[0]
  forward = sparse_linkage.sparse_forward_weights(values, indices, read_weights)
  backward = sparse_linkage.sparse_backward_weights(values, indices, read_weights)
  return state, forward.sum() + backward.sum()


def _time(step, state, writes, reads, repeats):
  """Median seconds of one batched step (compiled once, outputs blocked on)."""
  step = jax.jit(jax.vmap(step))
  state, total = step(state, writes, reads)
  jax.block_until_ready(total)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, total = step(state, writes, reads)
    jax.block_until_ready(total)
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def _bytes_per_example(state) -> int:
  return sum(leaf[0].size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(state))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="64,256,1024", help="memory sizes N, comma-separated")
  parser.add_argument("--num_entries", type=int, default=8, help="K kept links per row")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--num_reads", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=20)
  args = parser.parse_args()
  print(f"batch {args.batch}, {args.num_reads} read heads, 1 write head, K = {args.num_entries}, "
        f"device {jax.devices()[0].device_kind}\n")
  print("| N | dense ms/step | sparse ms/step | speed-up | dense KiB/example | "
        "sparse KiB/example |")
  print("|---|---|---|---|---|---|")
  for size in (int(s) for s in args.sizes.split(",")):
    rng = np.random.RandomState(size)
    writes = jax.nn.softmax(jnp.asarray(rng.normal(size=(args.batch, 1, size)) * 3, jnp.float32))
    reads = jax.nn.softmax(jnp.asarray(rng.normal(size=(args.batch, args.num_reads, size)) * 3,
                                       jnp.float32))
    dense = temporal_linkage.zero_linkage((args.batch,), 1, size)
    sparse = sparse_linkage.zero_sparse_linkage((args.batch,), 1, size,
                                                min(args.num_entries, size - 1))
    dense_s = _time(_dense_step, dense, writes, reads, args.repeats)
    sparse_s = _time(_sparse_step, sparse, writes, reads, args.repeats)
    print(f"| {size} | {1e3 * dense_s:.3f} | {1e3 * sparse_s:.3f} | {dense_s / sparse_s:.1f}x | "
          f"{_bytes_per_example(dense) / 1024:.1f} | {_bytes_per_example(sparse) / 1024:.1f} |",
          flush=True)


if __name__ == "__main__":
  main()
