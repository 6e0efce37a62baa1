"""Compressive Transformer evaluation, ms per token: hidden-state memories vs cached projections.

    taskset -c 1 python benchmarks/compressive_eval_speed.py --repeats=5   # one core, ~2 min
    python benchmarks/compressive_eval_speed.py --lengths=256 --repeats=1  # quick look

Model: as benchmarks/xl_eval_speed.py (6 layers, d_model 256, 4 heads of 64,
d_ff 1024, 256 byte ids), plus a compressed memory with compression
--function at rate --rate. For each attention length A, a segment of --seg_len
tokens attends mem_len = compressed_mem_len = (A - seg_len) / 2 slots of each
memory, so the last query sees A keys:

  hidden   `CompressiveTransformer.__call__`, as Rae et al. evaluate it: both
           memories hold hidden states, re-projected to keys/values every
           segment (the reconstruction loss, a training signal, is not
           collected, so XLA drops it).
  cached   `fast_eval.compressive_cached_step`: both memories hold projected
           keys/values; a compressed slot is projected once, when written.

Both start from full memories. Timing as in xl_eval_speed.py: single-threaded
XLA, minimum over --repeats interleaved rounds of the process CPU time per
predicted token. `XLA GFLOP` is XLA's own count for the compiled step
(`cost_analysis`, all ops, dead code removed), per predicted token.
"""
import argparse
import os
import sys


def _parse(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", default="512,1024,2048,3800", help="attention lengths A")
  parser.add_argument("--seg_len", type=int, default=128)
  parser.add_argument("--num_layers", type=int, default=6)
  parser.add_argument("--d_model", type=int, default=256)
  parser.add_argument("--num_heads", type=int, default=4)
  parser.add_argument("--d_ff", type=int, default=1024)
  parser.add_argument("--function", default="conv", help="compression function")
  parser.add_argument("--rate", type=int, default=4, help="compression rate c")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--min_seconds", type=float, default=0.3)
  return parser.parse_args(argv)


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
  # Must precede the first jax import: one thread, as benchmarks/xl_eval_speed.py.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                             " intra_op_parallelism_threads=1").strip()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from memjax.cores import init_core  # noqa: E402
from memjax.transformer import CompressiveTransformer, fast_eval  # noqa: E402
import machine  # noqa: E402
import xl_eval_speed  # noqa: E402  (its timing; its XLA flags are set only when run itself)


def build_paths(args, length: int):
  """{"hidden" | "cached": (compiled step, its arguments)} at attention length A, memories full."""
  slots = (length - args.seg_len) // 2
  model = CompressiveTransformer(vocab_size=256, d_model=args.d_model, num_layers=args.num_layers,
                                 num_heads=args.num_heads, d_ff=args.d_ff, mem_len=slots,
                                 compressed_mem_len=slots,
                                 compression_rate=args.rate, compression_function=args.function)
  params = {"params": init_core(model, jax.random.PRNGKey(0), (1, args.seg_len))["params"]}
  carry = model.initialize_carry(None, (1, args.seg_len))
  full = lambda memory, seed: memory._replace(
      hidden=jax.random.normal(jax.random.PRNGKey(seed), memory.hidden.shape),
      valid=jnp.ones_like(memory.valid))
  carry = carry._replace(memory=full(carry.memory, 2), compressed=full(carry.compressed, 3))
  cache = model.apply(params, carry, method=fast_eval.project_compressive_memory)
  keys = model.apply(params, 2 * slots + args.seg_len, method=fast_eval.position_keys)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (1, args.seg_len), 0, 256)
  hidden = jax.jit(lambda p, c, s: model.apply(p, c, s))
  cached = jax.jit(lambda p, c, s, k: model.apply(p, c, s, k,
                                                  method=fast_eval.compressive_cached_step))
  paths = {"hidden": (hidden, (params, carry, tokens)),
           "cached": (cached, (params, cache, tokens, keys))}
  # Compiled once: the executables that are timed are the ones XLA's FLOP count describes.
  return {name: (fn.lower(*fn_args).compile(), fn_args) for name, (fn, fn_args) in paths.items()}


def _cpu_seconds(fn, fn_args, calls):
  """Process CPU seconds per call, timed as in xl_eval_speed.py."""
  return xl_eval_speed._time(fn, fn_args, calls)[0]


def benchmark(args):
  print(f"# Compressive Transformer, {args.num_layers} layers, d_model {args.d_model}, "
        f"{args.num_heads} heads, d_ff {args.d_ff}, segment {args.seg_len}, "
        f"{args.function} at rate {args.rate}, mem_len = compressed_mem_len = (A - segment) / 2;"
        f" {machine.describe()} {jax.devices()[0].device_kind}, one XLA thread; "
        f"ms = process CPU time per predicted token", flush=True)
  print("| A | mem_len + compressed | hidden ms/tok | cached ms/tok | cached vs hidden "
        "| XLA GFLOP/tok hidden | cached | FLOP ratio |")
  print("|---" * 8 + "|")
  rows = []
  for length in [int(x) for x in args.lengths.split(",")]:
    paths = build_paths(args, length)
    flops, calls, best = {}, {}, {}
    for name, (fn, fn_args) in paths.items():
      flops[name] = fn.cost_analysis()["flops"] / args.seg_len
      _cpu_seconds(fn, fn_args, 1)
      calls[name] = max(1, int(args.min_seconds / max(_cpu_seconds(fn, fn_args, 1), 1e-6)))
      best[name] = float("inf")
    for _ in range(args.repeats):
      for name, (fn, fn_args) in paths.items():
        best[name] = min(best[name], _cpu_seconds(fn, fn_args, calls[name]) / args.seg_len)
    slots = (length - args.seg_len) // 2
    row = dict(attention_length=length, slots=slots, hidden_ms=best["hidden"] * 1e3,
               cached_ms=best["cached"] * 1e3, speedup=best["hidden"] / best["cached"],
               hidden_gflop=flops["hidden"] / 1e9, cached_gflop=flops["cached"] / 1e9)
    rows.append(row)
    print(f"| {length} | {slots} + {slots} | {row['hidden_ms']:.3f} | {row['cached_ms']:.3f} "
          f"| **{row['speedup']:.2f}x** | {row['hidden_gflop']:.3f} | {row['cached_gflop']:.3f} "
          f"| {flops['hidden'] / flops['cached']:.2f}x |", flush=True)
  return rows


if __name__ == "__main__":
  benchmark(ARGS)
