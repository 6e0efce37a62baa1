#!/usr/bin/env bash
# The checks that need an accelerator, as one run of under 9 minutes on one GPU:
#   - NTM, LSTM and DNC copy training throughput at batch 1,024 and 4,096, with the device
#     name, and char-LM tokens/s (Transformer-XL, Compressive, vanilla);
#   - Transformer-XL evaluation speed (vanilla / hidden-state XL / cached projections / KV
#     decoding) with wall-clock times, the cached path's 2x over hidden-state XL at A >= 2048.
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR]          # default $OUT, else ./gpu_checks_out
#
# The device image has jax with CUDA, flax, optax, orbax, chex and absl, but not ml_collections
# (the configs need it) and no network. So fetch its wheels here first (ignored by git):
#
#   pip download ml_collections==1.1.0 tensorboardX==2.6.5 --no-deps -d .device_wheels
#   for v in 3.10 3.11 3.12 3.13; do pip download PyYAML==6.0.3 --only-binary=:all: --no-deps \
#       --python-version $v --platform manylinux2014_x86_64 -d .device_wheels; done
#
# and copy `.device_wheels` with the checkout to the GPU machine.
# The CPU figures to compare with are in docs/benchmarks.md and docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_checks_out}}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if ! python -c "import ml_collections" 2>/dev/null; then
  pip install --no-index --no-deps --find-links=.device_wheels ml_collections PyYAML tensorboardX
fi
python - <<'EOF' 2>&1 | tee "$out/device.txt"
import jax
print("jax", jax.__version__, "backend", jax.default_backend(), "devices", jax.devices())
EOF
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 | tee -a "$out/device.txt" || true

# Copy throughput: per-step time and sequences/s; --seeds=0 skips the time-to-solve runs (run.py is CPU).
# Rows print as they are measured, so a cut run keeps what it finished.
timeout 240 python benchmarks/copy_benchmark.py --seeds=0 --cores=ntm,lstm,dnc --batch_sizes=1024,4096 \
  2>&1 | tee "$out/copy_benchmark.txt" || echo "copy_benchmark exited with $?" | tee -a "$out/copy_benchmark.txt"

# XL evaluation speed: wall times on the GPU (--clock=auto), XLA's own threading.
timeout 180 python benchmarks/xl_eval_speed.py --threads=0 --repeats=5 \
  --json="$out/xl_eval_speed.json" 2>&1 | tee "$out/xl_eval_speed.txt" \
  || echo "xl_eval_speed exited with $?" | tee -a "$out/xl_eval_speed.txt"

# Tokens/s of the char-LM models.
timeout 90 python benchmarks/lm_throughput.py --batch_sizes=64,256 --json="$out/lm_throughput.json" \
  2>&1 | tee "$out/lm_throughput.txt" || echo "lm_throughput exited with $?" | tee -a "$out/lm_throughput.txt"
