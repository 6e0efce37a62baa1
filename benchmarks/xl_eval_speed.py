"""Per-token evaluation time: sliding vanilla vs Transformer-XL (hidden states / cached
projections) vs KV-cache decoding.

    taskset -c 1 python benchmarks/xl_eval_speed.py --repeats=5 --json=xl_eval_speed.json  # one core, ~2-6 min
    python benchmarks/xl_eval_speed.py --from_json=xl_eval_speed.json   # docs/results.md's table
    python benchmarks/xl_eval_speed.py --lengths=128,512 --repeats=2            # quick look

Model: 6 layers, d_model 256, 4 heads of 64 (Transformer-XL's enwik8 d_head),
d_ff 1024, 256 byte ids. For each attention length A, all in one process:

  vanilla      the same model with mem_len = 0 sliding a window of A tokens one
               token per prediction, full recompute (Al-Rfou et al. 2018): one
               forward pass of A tokens per predicted token
               (`fast_eval.sliding_window_logits`: queries in chunks of
               --seg_len, so its kernels are XL's; top layer only the last query).
  xl_hidden    Transformer-XL as in the paper's enwik8 evaluation: segments of
               --seg_len tokens, mem_len = A - seg_len hidden states per layer
               (the last query of a segment attends A keys, as vanilla's), the
               memory's keys/values and the position keys re-projected every
               segment.
  xl_cached    the same with the memory holding projected keys/values and the
               position keys computed once (`fast_eval.cached_step`).
  kv_decode    token-by-token decoding with a key/value cache of A - 1 tokens
               (the cached step with segment length 1).

FLOPs are counted, not estimated: `matmul_flops` walks each path's jaxpr and
adds 2 M N K for every dot_general (projections, the content, position and
value products of attention, feed-forward, readout), times the trip count inside
`lax.map`/`scan`; tests/test_xl_eval_speed.py checks it against the closed form.

Timing: XLA runs single-threaded (--threads=1); each path's time is the minimum
over --repeats interleaved rounds of the *process CPU time* (time.process_time)
per predicted token, so other processes on a shared core do not inflate it; wall
times (time.perf_counter) are kept in the JSON. Pin the process to one core
(taskset) so that CPU time is one core's time. The cached-vs-hidden ratio is
also given per round (the two paths run back to back in each round): its median
over rounds, with the range, shows how far a drifting shared machine moves it.
On a GPU or TPU (--clock=auto) times are wall times instead; there:

    JAX_PLATFORMS=cuda python benchmarks/xl_eval_speed.py --threads=0 --repeats=5
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def _parse(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", default="128,512,1024,2048,3800", help="attention lengths A")
  parser.add_argument("--num_layers", type=int, default=6)
  parser.add_argument("--d_model", type=int, default=256)
  parser.add_argument("--num_heads", type=int, default=4)
  parser.add_argument("--d_ff", type=int, default=1024)
  parser.add_argument("--vocab_size", type=int, default=256, help="bytes, as enwik8")
  parser.add_argument("--seg_len", type=int, default=128,
                      help="XL evaluation segment length (also vanilla's query chunk)")
  parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds")
  parser.add_argument("--min_seconds", type=float, default=0.3,
                      help="each timing repeats a call until this much CPU time has passed")
  parser.add_argument("--threads", type=int, default=1,
                      help="1: single-threaded XLA (one core); 0: XLA's default")
  parser.add_argument("--clock", default="auto", choices=("auto", "cpu", "wall"),
                      help="time per token by process CPU time (cpu) or wall time; auto: CPU "
                           "time on the CPU backend, wall time on a GPU or TPU, where the "
                           "host's CPU time says nothing of the device's")
  parser.add_argument("--json", default="", help="also write the table here")
  parser.add_argument("--from_json", default="",
                      help="print the table of docs/results.md from an earlier --json file "
                      "and exit")
  return parser.parse_args(argv)


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads == 1:
  # Must precede the first jax import.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                             " intra_op_parallelism_threads=1").strip()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from memjax.transformer import TransformerXL, fast_eval  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine  # noqa: E402

PATHS = ("vanilla", "xl_hidden", "xl_cached", "kv_decode")


# -- FLOPs ------------------------------------------------------------------------------------
from jaxpr_flops import matmul_flops  # noqa: E402,F401  (refuses a cond: these paths have none)


def count_flops(fn, *args) -> int:
  return matmul_flops(jax.make_jaxpr(fn)(*args).jaxpr)


def closed_form_flops(path: str, length: int, seg_len: int, num_layers: int, d_model: int,
                      d_ff: int, vocab_size: int, width: int = None) -> float:
  """The same count by hand, per predicted token (`width` = heads * head_dim).

  Per layer, for q queries over k keys with p keys projected here:
  W_q, W_o: 2 * 2 q d w; feed-forward: 2 * 2 q d d_ff; W_k, W_v: 2 * 2 p d w;
  W_{k,R} R: 2 p d w (p = k + 1 with the spare row, or 0 when cached);
  attention (q+u)k and softmax(.)v: 2 * 2 q k w, (q+v)r: 2 q (k + 1) w (the
  spare distance row, see `relative_attention.rel_shift`). Readout: 2 d V per query.
  """
  width = width or d_model

  def layer(queries, keys, projected, positions):
    return (4 * queries * d_model * width + 4 * queries * d_model * d_ff
            + 4 * projected * d_model * width + 2 * positions * d_model * width
            + 4 * queries * keys * width + 2 * queries * (keys + 1) * width)

  readout = 2 * d_model * vocab_size
  if path == "vanilla":
    lower = layer(length, length, length, length + 1)
    top = layer(1, length, length, length + 1)
    return (num_layers - 1) * lower + top + readout
  if path == "xl_hidden":
    return num_layers * layer(seg_len, length, length, length + 1) / seg_len + readout
  if path == "xl_cached":
    return num_layers * layer(seg_len, length, seg_len, 0) / seg_len + readout
  if path == "kv_decode":
    return num_layers * layer(1, length, 1, 0) + readout
  raise ValueError(path)


# -- timing -----------------------------------------------------------------------------------
def _time(fn, args, calls):
  """(CPU seconds, wall seconds) per call over `calls` calls."""
  cpu, wall = time.process_time(), time.perf_counter()
  out = None
  for _ in range(calls):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def _random_like(shapes, seed: int, scale: float = 1.0):
  """Arrays for a tree of `jax.ShapeDtypeStruct`: floats N(0, scale^2) (layer-norm scales 1,
  biases 0), bools True (every memory slot valid), integers 0."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path)
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      if name.endswith("['scale']"):
        return jnp.ones(leaf.shape, leaf.dtype)
      if name.endswith("['bias']"):
        return jnp.zeros(leaf.shape, leaf.dtype)
      return jnp.asarray(scale * rng.standard_normal(leaf.shape), leaf.dtype)
    if leaf.dtype == jnp.bool_:
      return jnp.ones(leaf.shape, bool)
    return jnp.zeros(leaf.shape, leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def build_paths(args, length: int):
  """{path: (jitted fn, its arguments, predicted tokens per call)} at attention length A."""
  fields = dict(vocab_size=args.vocab_size, d_model=args.d_model, num_layers=args.num_layers,
                num_heads=args.num_heads, d_ff=args.d_ff)
  base = TransformerXL(mem_len=0, **fields)
  # Parameters, memories and position keys are random arrays of the shapes the model gives
  # (`jax.eval_shape`, no compilation): their values do not change the timing or the FLOPs, and
  # compiling the model's init and set-up took most of a test-sized run (~12 s). Equality of
  # the paths is tested in tests/test_transformer_xl.py, not here.
  params = _random_like(jax.eval_shape(base.init, jax.random.PRNGKey(0),
                                       base.initialize_carry(None, (1, 4)),
                                       jnp.zeros((1, 4), jnp.int32)), seed=0, scale=0.02)
  params = {"params": params["params"]}
  seg = min(args.seg_len, length)
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, args.vocab_size, (1, length)),
                       jnp.int32)

  def full_memory(model, qlen):
    """Hidden-state carry and its cached projection, every slot valid (mid-evaluation), and the
    position keys for attention length A."""
    carry = _random_like(jax.eval_shape(lambda: model.initialize_carry(None, (1, qlen))), seed=2)
    cache = _random_like(jax.eval_shape(
        lambda: model.apply(params, carry, method=fast_eval.project_memory)), seed=3)
    keys = _random_like(jax.eval_shape(
        lambda: model.apply(params, length, method=fast_eval.position_keys)), seed=4)
    return carry, cache, keys

  xl = base.clone(mem_len=length - seg)
  carry, cache, segment_keys = full_memory(xl, seg)
  decoder = base.clone(mem_len=length - 1)
  _, decode_cache, decode_keys = full_memory(decoder, 1)

  vanilla = jax.jit(lambda p, w: base.apply(p, w, query_chunk=args.seg_len,
                                            method=fast_eval.sliding_window_logits))
  hidden = jax.jit(lambda p, c, s: xl.apply(p, c, s))
  cached = jax.jit(lambda p, c, s, k: xl.apply(p, c, s, k, method=fast_eval.cached_step))
  decode = jax.jit(lambda p, c, s, k: decoder.apply(p, c, s, k, method=fast_eval.cached_step))
  return {
      "vanilla": (vanilla, (params, tokens), 1),
      "xl_hidden": (hidden, (params, carry, tokens[:, :seg]), seg),
      "xl_cached": (cached, (params, cache, tokens[:, :seg], segment_keys), seg),
      "kv_decode": (decode, (params, decode_cache, tokens[:, :1], decode_keys), 1),
  }


# Arguments of each path that persist between calls (its memory), by position in its arguments.
_STATE_ARGUMENTS = {"vanilla": (), "xl_hidden": (1,), "xl_cached": (1, 3), "kv_decode": (1, 3)}


def state_bytes(name: str, fn_args) -> int:
  """Bytes a path carries from one call to the next: XL's hidden states, or the cached
  keys/values and the position keys (the window's tokens for vanilla are not counted)."""
  return sum(leaf.nbytes for index in _STATE_ARGUMENTS[name]
             for leaf in jax.tree_util.tree_leaves(fn_args[index]))


def temp_bytes(compiled) -> int:
  """XLA's scratch memory for one call (`memory_analysis` of the compiled step)."""
  analysis = compiled.memory_analysis()
  return int(getattr(analysis, "temp_size_in_bytes", 0) or 0)


def clock_of(args) -> str:
  if args.clock != "auto":
    return args.clock
  return "cpu" if jax.default_backend() == "cpu" else "wall"


def benchmark(args):
  rows = []
  clock = clock_of(args)
  for length in [int(x) for x in args.lengths.split(",")]:
    paths = build_paths(args, length)
    flops, calls, memory = {}, {}, {}
    for name, (fn, fn_args, tokens_per_call) in list(paths.items()):
      flops[name] = count_flops(fn, *fn_args) / tokens_per_call
      compiled = fn.lower(*fn_args).compile()  # timed as compiled: one compilation per path
      memory[name] = (state_bytes(name, fn_args), temp_bytes(compiled))
      paths[name] = (compiled, fn_args, tokens_per_call)
      cpu, wall = _time(compiled, fn_args, 1)  # warm
      calls[name] = max(1, int(args.min_seconds / max(cpu if clock == "cpu" else wall, 1e-6)))
    best = {name: math.inf for name in paths}  # by `clock`
    best_wall = dict(best)
    rounds = {name: [] for name in paths}
    for _ in range(args.repeats):
      for name, (fn, fn_args, tokens_per_call) in paths.items():
        cpu, wall = _time(fn, fn_args, calls[name])
        rounds[name].append((cpu if clock == "cpu" else wall) / tokens_per_call)
        best[name] = min(best[name], rounds[name][-1])
        best_wall[name] = min(best_wall[name], wall / tokens_per_call)
    row = {"attention_length": length, "clock": clock}
    for name in PATHS:
      row[f"{name}_ms"] = best[name] * 1e3
      row[f"{name}_wall_ms"] = best_wall[name] * 1e3
      row[f"{name}_mflop"] = flops[name] / 1e6
      row[f"{name}_gflops_per_s"] = flops[name] / best[name] / 1e9
      row[f"{name}_state_mib"], row[f"{name}_temp_mib"] = (b / 2**20 for b in memory[name])
    for name in ("xl_hidden", "xl_cached"):
      row[f"speedup_{name}"] = best["vanilla"] / best[name]
      row[f"speedup_{name}_wall"] = best_wall["vanilla"] / best_wall[name]
      row[f"flop_ratio_{name}"] = flops["vanilla"] / flops[name]
      row[f"measured_over_flop_{name}"] = row[f"speedup_{name}"] / row[f"flop_ratio_{name}"]
    row["cached_over_hidden"] = best["xl_hidden"] / best["xl_cached"]
    # The same ratio from the two paths' times within each round (run back to back), so a
    # machine whose speed drifts between rounds (a shared VM) does not pair a fast round of one
    # path with a slow round of the other; the median over rounds, and its spread.
    paired = sorted(h / c for h, c in zip(rounds["xl_hidden"], rounds["xl_cached"]))
    row["cached_over_hidden_paired"] = statistics.median(paired)
    row["cached_over_hidden_paired_range"] = [paired[0], paired[-1]]
    row["flop_ratio_cached_over_hidden"] = flops["xl_hidden"] / flops["xl_cached"]
    rows.append(row)
    _print_row(row, header=len(rows) == 1)
  return rows


def _print_row(row, header):
  if header:
    print("| A | vanilla ms/tok | XL hidden ms/tok | XL cached ms/tok | KV decode ms/tok "
          "| XL hidden speed-up | FLOP ratio | measured/FLOP "
          "| XL cached speed-up | FLOP ratio | measured/FLOP "
          "| cached vs hidden (FLOP ratio) | per-round median (range) |")
    print("|---" * 13 + "|")
  print(f"| {row['attention_length']} | {row['vanilla_ms']:.1f} | {row['xl_hidden_ms']:.3f} | "
        f"{row['xl_cached_ms']:.3f} | {row['kv_decode_ms']:.3f} | "
        f"{row['speedup_xl_hidden']:.0f}x | {row['flop_ratio_xl_hidden']:.0f}x | "
        f"{row['measured_over_flop_xl_hidden']:.2f} | "
        f"{row['speedup_xl_cached']:.0f}x | {row['flop_ratio_xl_cached']:.0f}x | "
        f"{row['measured_over_flop_xl_cached']:.2f} | "
        f"{row['cached_over_hidden']:.2f}x ({row['flop_ratio_cached_over_hidden']:.2f}x) | "
        f"{_paired(row)} |", flush=True)


def _paired(row) -> str:
  low, high = row["cached_over_hidden_paired_range"]
  return f"{row['cached_over_hidden_paired']:.2f}x ({low:.2f}-{high:.2f})"


def readme_table(rows) -> str:
  """The table of docs/results.md (ms per predicted token; speed-ups with their FLOP ratios)."""
  lines = ["| attention length A | sliding vanilla | XL, hidden-state memory | XL, cached projections "
           "| KV-cache decoding | XL speed-up (matmul-FLOP ratio, measured/FLOP) "
           "| cached XL speed-up (FLOP ratio, measured/FLOP) "
           "| cached vs hidden-state XL (FLOP ratio) | the same, median of rounds (range) |",
           "|---" * 9 + "|"]
  for r in rows:
    lines.append(
        f"| {r['attention_length']} | {r['vanilla_ms']:.1f} | {r['xl_hidden_ms']:.3f} "
        f"| {r['xl_cached_ms']:.3f} | {r['kv_decode_ms']:.2f} "
        f"| **{r['speedup_xl_hidden']:.0f}x** ({r['flop_ratio_xl_hidden']:.0f}x, "
        f"{r['measured_over_flop_xl_hidden']:.2f}) "
        f"| {r['speedup_xl_cached']:.0f}x ({r['flop_ratio_xl_cached']:.0f}x, "
        f"{r['measured_over_flop_xl_cached']:.2f}) "
        f"| **{r['cached_over_hidden']:.3f}x** ({r['flop_ratio_cached_over_hidden']:.2f}x) "
        f"| {_paired(r) if 'cached_over_hidden_paired' in r else '-'} |")
  return "\n".join(lines)


def main():
  args = ARGS
  if args.from_json:
    with open(args.from_json) as f:
      print(readme_table(json.load(f)["rows"]))
    return
  affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
  print(f"# {args.num_layers} layers, d_model {args.d_model}, {args.num_heads} heads, d_ff "
        f"{args.d_ff}, XL segment {args.seg_len}, XL mem_len = A - segment; XLA threads="
        f"{args.threads or 'default'}; CPU cores allowed {affinity}; {machine.describe()}"
        f" {jax.devices()[0].device_kind}; ms = "
        f"{'process CPU' if clock_of(args) == 'cpu' else 'wall'} time per predicted token",
        flush=True)
  start = time.perf_counter()
  rows = benchmark(args)
  print(f"# wall time {time.perf_counter() - start:.0f} s; GFLOP/s ({clock_of(args)} time): " + "; ".join(
      f"A={r['attention_length']}: " + ", ".join(f"{p} {r[p + '_gflops_per_s']:.1f}"
                                                  for p in PATHS) for r in rows), flush=True)
  print("# memory carried between calls / XLA scratch per call, MiB: " + "; ".join(
      f"A={r['attention_length']}: " + ", ".join(
          f"{p} {r[p + '_state_mib']:.1f}/{r[p + '_temp_mib']:.1f}" for p in PATHS) for r in rows),
        flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "cpu_cores": affinity, "cpu": machine.cpu_info(),
                 "device": jax.devices()[0].device_kind, "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
