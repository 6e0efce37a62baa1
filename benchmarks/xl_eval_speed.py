"""Per-token evaluation time: sliding vanilla vs Transformer-XL (hidden states / cached projections) vs KV-cache decoding.

    python benchmarks/xl_eval_speed.py                          # 6 layers, d_model 256, one thread
    python benchmarks/xl_eval_speed.py --lengths=128,512 --repeats=2   # quick look

For each attention length A:

  vanilla      the same model with mem_len = 0, sliding a window of A tokens one
               token per prediction, full recompute (Al-Rfou et al. 2018):
               one forward pass of A tokens per token.
  xl_hidden    Transformer-XL as in the paper: segments of `--seg_len` tokens with
               mem_len = A hidden states per layer, re-projected every segment.
  xl_cached    the same with the memory holding projected keys/values and the
               position keys computed once (memjax/transformer/fast_eval.py).
  kv_decode    token-by-token decoding with a key/value cache of A tokens
               (cached path, segment length 1).

Every XL query sees at least A previous tokens, as many as vanilla's. The
matmul-FLOP ratio counts the multiply-adds of every matmul/einsum (projections,
the three attention products, feed-forward, readout) per predicted token;
the measured speed-up vanilla/xl_hidden can be read against it. Times are the
minimum over `--repeats` interleaved rounds (robust to a shared machine).
"""
import argparse
import json
import os
import sys
import time


def _parse():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", default="128,512,1024,2048,3800", help="attention lengths A")
  parser.add_argument("--num_layers", type=int, default=6)
  parser.add_argument("--d_model", type=int, default=256)
  parser.add_argument("--num_heads", type=int, default=8)
  parser.add_argument("--d_ff", type=int, default=1024)
  parser.add_argument("--vocab_size", type=int, default=256, help="bytes, as enwik8")
  parser.add_argument("--seg_len", type=int, default=128, help="XL evaluation segment length")
  parser.add_argument("--decode_tokens", type=int, default=16, help="tokens per kv_decode timing")
  parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds")
  parser.add_argument("--threads", type=int, default=1,
                      help="1: single-threaded XLA (one core); 0: XLA's default")
  parser.add_argument("--json", default="", help="also write the table here")
  return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads == 1:
  # Must precede the first jax import.
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                             " intra_op_parallelism_threads=1").strip()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from memjax.transformer import TransformerXL, fast_eval  # noqa: E402


def layer_matmul_flops(queries: int, keys: int, d_model: int, width: int, d_ff: int,
                       project_memory: bool = True) -> int:
  """Matmul FLOPs (2 per multiply-add) of one layer for `queries` over `keys` keys.

  project_memory: whether the keys' K/V and the position encodings are projected
  here (hidden-state XL, vanilla) or come from the cache (cached path).
  """
  flops = 2 * queries * d_model * width * 2          # W_q, W_o
  flops += 4 * queries * d_model * d_ff              # feed-forward
  projected = keys if project_memory else queries
  flops += 2 * projected * d_model * width * 2       # W_k, W_v
  if project_memory:
    flops += 2 * keys * d_model * width              # W_{k,R} R
  flops += 3 * 2 * queries * keys * width            # (q+u)k, (q+v)r, softmax(.)v
  return flops


def per_token_flops(args, attention_length: int):
  width = args.d_model
  readout = 2 * args.d_model * args.vocab_size
  layer = lambda q, k, p=True: layer_matmul_flops(q, k, args.d_model, width, args.d_ff, p)
  seg = args.seg_len
  keys = attention_length + seg
  return {
      "vanilla": args.num_layers * layer(attention_length, attention_length) + readout,
      "xl_hidden": (args.num_layers * layer(seg, keys) + seg * readout) / seg,
      "xl_cached": (args.num_layers * layer(seg, keys, False) + seg * readout) / seg,
      "kv_decode": args.num_layers * layer(1, attention_length + 1, False) + readout,
  }


def _time(fn, *inputs, calls=1):
  start = time.perf_counter()
  out = None
  for _ in range(calls):
    out = fn(*inputs)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / calls


def benchmark(args):
  fields = dict(vocab_size=args.vocab_size, d_model=args.d_model, num_layers=args.num_layers,
                num_heads=args.num_heads, d_ff=args.d_ff)
  base = TransformerXL(mem_len=0, **fields)
  params = base.init(jax.random.PRNGKey(0), base.initialize_carry(None, (1, 4)),
                     jnp.zeros((1, 4), jnp.int32))
  params = {"params": params["params"]}
  rows = []
  for length in [int(x) for x in args.lengths.split(",")]:
    seg = args.seg_len
    xl = base.clone(mem_len=length)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (1, max(length, seg)), 0, args.vocab_size)
    window, segment, one = tokens[:, :length], tokens[:, :seg], tokens[:, :1]

    vanilla = jax.jit(lambda p, w: base.apply(p, w, method=fast_eval.sliding_window_logits))
    hidden = jax.jit(lambda p, c, s: xl.apply(p, c, s))
    cached = jax.jit(lambda p, c, s, k: xl.apply(p, c, s, k, method=fast_eval.cached_step))
    # Full memory: every slot valid, as in the middle of a long evaluation.
    carry = xl.initialize_carry(None, (1, seg))
    carry = carry._replace(memory=carry.memory._replace(
        hidden=jax.random.normal(jax.random.PRNGKey(2), carry.memory.hidden.shape),
        valid=jnp.ones_like(carry.memory.valid)))
    cache = xl.apply(params, carry, method=fast_eval.project_memory)
    segment_keys = xl.apply(params, length + seg, method=fast_eval.position_keys)
    decode_keys = xl.apply(params, length + 1, method=fast_eval.position_keys)

    paths = {
        "vanilla": (lambda: _time(vanilla, params, window), 1),
        "xl_hidden": (lambda: _time(hidden, params, carry, segment), seg),
        "xl_cached": (lambda: _time(cached, params, cache, segment, segment_keys), seg),
        "kv_decode": (lambda: _time(cached, params, cache, one, decode_keys,
                                    calls=args.decode_tokens), 1),
    }
    for timer, _ in paths.values():  # compile + warm up
      timer()
    best = {name: float("inf") for name in paths}
    for _ in range(args.repeats):
      for name, (timer, tokens_per_call) in paths.items():
        best[name] = min(best[name], timer() / tokens_per_call)
    flops = per_token_flops(args, length)
    row = {"attention_length": length, **{f"{k}_ms": v * 1e3 for k, v in best.items()},
           "speedup_xl_hidden": best["vanilla"] / best["xl_hidden"],
           "speedup_xl_cached": best["vanilla"] / best["xl_cached"],
           "speedup_kv_decode": best["vanilla"] / best["kv_decode"],
           "flop_ratio_xl_hidden": flops["vanilla"] / flops["xl_hidden"],
           "flop_ratio_xl_cached": flops["vanilla"] / flops["xl_cached"],
           "cached_over_hidden": best["xl_hidden"] / best["xl_cached"],
           "flop_ratio_cached_over_hidden": flops["xl_hidden"] / flops["xl_cached"]}
    row["measured_over_flop_ratio"] = row["speedup_xl_hidden"] / row["flop_ratio_xl_hidden"]
    rows.append(row)
    _print_row(row, header=len(rows) == 1)
  return rows


def _print_row(row, header):
  if header:
    print("| A | vanilla ms/tok | XL hidden ms/tok | XL cached ms/tok | KV decode ms/tok | "
          "speed-up XL hidden | FLOP ratio vanilla/XL | measured/FLOP | speed-up XL cached | "
          "FLOP ratio (cached) | cached vs hidden (FLOP) |")
    print("|---" * 11 + "|")
  print(f"| {row['attention_length']} | {row['vanilla_ms']:.2f} | {row['xl_hidden_ms']:.4f} | "
        f"{row['xl_cached_ms']:.4f} | {row['kv_decode_ms']:.4f} | "
        f"{row['speedup_xl_hidden']:.0f}x | {row['flop_ratio_xl_hidden']:.0f}x | "
        f"{row['measured_over_flop_ratio']:.2f} | {row['speedup_xl_cached']:.0f}x | "
        f"{row['flop_ratio_xl_cached']:.0f}x | {row['cached_over_hidden']:.2f}x "
        f"({row['flop_ratio_cached_over_hidden']:.2f}x) |", flush=True)


def main():
  args = ARGS
  print(f"# {args.num_layers} layers, d_model {args.d_model}, {args.num_heads} heads, d_ff "
        f"{args.d_ff}, XL segment {args.seg_len}, mem_len = A; threads={args.threads}; "
        f"{jax.devices()[0].device_kind}", flush=True)
  rows = benchmark(args)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
