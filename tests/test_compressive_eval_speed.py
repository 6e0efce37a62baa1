"""benchmarks/compressive_eval_speed.py runs, and its two paths compute the same logits."""
import importlib.util
import pathlib

import numpy as np

_PATH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "compressive_eval_speed.py"
_SPEC = importlib.util.spec_from_file_location("compressive_eval_speed", _PATH)
compressive_eval_speed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compressive_eval_speed)


def test_benchmark_paths_agree_and_the_table_prints(capsys):
  args = compressive_eval_speed._parse([
      "--lengths=16", "--seg_len=4", "--rate=2", "--num_layers=1", "--d_model=8",
      "--num_heads=2", "--d_ff=12", "--repeats=1", "--min_seconds=0"])
  paths = compressive_eval_speed.build_paths(args, 16)
  (hidden_fn, hidden_args), (cached_fn, cached_args) = paths["hidden"], paths["cached"]
  np.testing.assert_allclose(np.asarray(cached_fn(*cached_args)[1]),
                             np.asarray(hidden_fn(*hidden_args)[1]), rtol=1e-4, atol=1e-4)
  (row,) = compressive_eval_speed.benchmark(args)
  assert row["slots"] == 6 and row["cached_gflop"] < row["hidden_gflop"]
  assert np.isfinite(row["speedup"]) and row["speedup"] > 0
  assert "| 16 | 6 + 6 |" in capsys.readouterr().out
