"""Benchmark scripts that are not covered elsewhere run end to end at a tiny size (`slow`:
each builds a trainer and compiles its step, ~15 s, and the default suite is kept under
10 minutes on CI's 2 cores)."""
import functools
import importlib.util
import math
import pathlib

import pytest

_BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
  spec = importlib.util.spec_from_file_location(name, _BENCHMARKS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.slow
def test_lm_throughput_rows(tmp_path, capsys):
  lm_throughput = _load("lm_throughput")
  tiny = ["model.num_layers=1", "model.d_model=16", "model.num_heads=2", "model.d_ff=32",
          "train.seg_len=8"]
  rows = lm_throughput.main(["--models=transformer_xl", "--batch_sizes=2", "--steps=1",
                             f"--json={tmp_path / 'rows.json'}"]
                            + [f"--config_override={o}" for o in tiny])
  (row,) = rows
  assert (row["model"], row["batch_size"], row["seg_len"], row["mem_len"]) == (
      "transformer_xl", 2, 8, 32)  # the config's memory, the overridden segment
  assert row["tokens_per_s"] == pytest.approx(2 * 8 / (row["ms_per_step"] / 1e3))
  assert math.isfinite(row["loss"]) and row["loss"] > 0
  assert "| transformer_xl | 2 | 8 | 32 |" in capsys.readouterr().out
  assert (tmp_path / "rows.json").exists()


@functools.lru_cache(maxsize=None)
def _copy_benchmark():
  return _load("copy_benchmark")   # once: a second load would define its absl flags again


@pytest.mark.parametrize("core", ["ntm", "lstm"])
def test_copy_benchmark_passes_a_baselines_config_before_its_overrides(core, tmp_path):
  """absl refuses `--config.x` overrides that come before `--config=` (the baselines' runs
  once failed so); the NTM runs run.py's own default config."""
  command = _copy_benchmark()._run_command(core, 3, str(tmp_path), baseline_steps=7)
  flags = [arg for arg in command if arg.startswith("--config")]
  if core == "ntm":
    assert not any(arg.startswith("--config=") for arg in flags)
  else:
    assert flags[0].endswith(f"copy_{core}.py") and "--config.train.num_steps=7" in flags
  assert "--config.seed=3" in flags
