"""benchmarks/newer_memories.py: its runs are valid configs, its tables are computed from the
runs' results as documented, and the kNN timing measures a full memory."""
import json

import pytest

from benchmarks import newer_memories
from configs import long_range_xl
from memjax.training import loop, registry
from tests.family_configs import load_config


def test_every_run_of_every_table_is_a_valid_config():
  """Each run's config file with its flags passes the loop's checks (a typo would surface
  an hour into the table)."""
  for table in newer_memories.TABLES:
    runs = newer_memories.table_runs(table)
    assert len({r.path for r in runs}) == len(runs)
    for run in runs:
      config = newer_memories.run_config(run)
      assert config.seed == int(run.path[-1])
      loop.check_config(config, registry.family_class(config))
  rmt = next(r for r in newer_memories.table_runs("charlm") if "/rmt/" in r.path)
  assert newer_memories.run_config(rmt).train.num_steps == 500


def test_the_far_long_range_task_puts_the_answer_four_segments_back():
  far = long_range_xl.get_config("long")
  assert (far.task.num_segments, far.task.train_gap) == (5, "mixed")
  assert load_config("long_range_rmt").task == far.task
  assert load_config("long_range_delta_rule").train == far.train
  with pytest.raises(ValueError, match="long_range_xl.py:short"):
    long_range_xl.get_config("short")


def _write(root, table, name, seed, result):
  folder = root / table / name / f"seed{seed}"
  folder.mkdir(parents=True)
  (folder / "results.json").write_text(json.dumps(result))


def test_the_charlm_table_averages_the_seeds(tmp_path):
  for seed, bits in enumerate((2.5, 2.6, 2.7)):
    _write(tmp_path, "charlm", "rmt", seed, {"final": {"bits_per_character": bits},
                                             "num_params": 662_000, "steps": 500,
                                             "wall_seconds": 60.0 * (seed + 1)})
  text = newer_memories.report("charlm", str(tmp_path))
  row = next(line for line in text.splitlines() if line.startswith("| Recurrent Memory"))
  assert ("| 662,000 | 500 | 2.600 (2.500-2.700) | 2.500 / 2.600 / 2.700 | 1.0-3.0 |"
          in row), row
  assert "`--config.train.num_steps=500`" in row
  assert "Transformer-XL" not in text  # rows with no run are left out


def test_the_knn_table_has_state_size_and_timing(tmp_path):
  for name, size, model in (("knn0", 0, "vanilla"), ("knn1024", 1024, "memorizing_transformer")):
    _write(tmp_path, "knn_sizes", name, 0, {
        "final": {"bits_per_character": 2.5}, "num_params": 660_000, "wall_seconds": 1.0,
        "config": {"model.name": model, "model.memory_size": size, "model.d_model": 128}})
  timings = {0: dict(ms_per_segment=2.0, us_per_token=4.0, excess_us_per_token=0.0),
             1024: dict(ms_per_segment=3.0, us_per_token=6.0, excess_us_per_token=2.0)}
  text = newer_memories.report("knn_sizes", str(tmp_path), timings)
  assert "| 1,024 | 263,168 | 660,000 | 2.500 | 3.00 | 6.0 | +2.0 us |" in text, text
  assert "| 0 (the local model: no kNN memory) | 0 |" in text


def test_the_knn_timing_runs_a_full_memory():
  timings = newer_memories.time_knn_forward(sizes=(0, 64), batch=2, qlen=4, repeats=2)
  assert set(timings) == {0, 64}
  assert timings[0]["excess_us_per_token"] == 0.0
  assert all(t["ms_per_segment"] > 0 for t in timings.values())
