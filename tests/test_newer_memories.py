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
  rmt = next(r for r in newer_memories.table_runs("charlm") if r.path.startswith("rmt/"))
  assert newer_memories.run_config(rmt).train.num_steps == 500


def test_the_far_long_range_task_puts_the_answer_four_segments_back():
  far = long_range_xl.get_config("long")
  assert far.task.num_segments == 5 and far.train == long_range_xl.get_config().train
  for name in ("long_range_rmt", "long_range_memorizing_transformer"):  # only their gaps differ
    task = load_config(name).task
    assert {**task, "train_gap": "longest"} == dict(far.task) and task.train_gap != "longest"
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


def test_the_knn_table_has_state_size_bits_and_timing(tmp_path):
  """Row 0 is the local model's run; the others the kNN run's parameters evaluated with each
  memory size (evaluations.json)."""
  for name, size, model in (("knn0", 0, "vanilla"), ("knn1024", 1024, "memorizing_transformer")):
    _write(tmp_path, "knn_sizes", name, 0, {
        "final": {"bits_per_character": 2.6 if size == 0 else 2.5}, "num_params": 660_000,
        "wall_seconds": 1.0, "config": {"model.name": model, "model.memory_size": size,
                                        "model.d_model": 128}})
  (tmp_path / "knn_sizes" / "evaluations.json").write_text(json.dumps({"4096": 2.45}))
  timings = {0: dict(ms_per_segment=2.0, us_per_token=4.0, excess_us_per_token=0.0),
             1024: dict(ms_per_segment=3.0, us_per_token=6.0, excess_us_per_token=2.0)}
  text = newer_memories.report("knn_sizes", str(tmp_path), timings)
  assert "| 0 | `charlm_vanilla.py` | 0 | 2.600 | 2.00 | 4.0 | +0.0 us |" in text, text
  assert ("| 1,024 | `charlm_memorizing_transformer.py`, trained with 1,024 (this run's final "
          "figure) | 263,168 | 2.500 | 3.00 | 6.0 | +2.0 us |") in text, text
  assert "| 4,096 | `charlm_memorizing_transformer.py`, trained with 1,024 | 1,052,672 | 2.450 " \
      "| - | - | - |" in text, text
  assert "16,384" not in text  # not evaluated


def test_the_knn_timing_runs_a_full_memory():
  timings = newer_memories.time_knn_forward(sizes=(0, 64), batch=2, qlen=4, repeats=2)
  assert set(timings) == {0, 64}
  assert timings[0]["excess_us_per_token"] == 0.0
  assert all(t["ms_per_segment"] > 0 for t in timings.values())


def test_the_long_range_table_shows_a_run_that_fell_back(tmp_path):
  _write(tmp_path, "long_range", "memorizing_transformer_longest", 0, {
      "final": {"accuracy": 0.109}, "state_floats": 16512, "num_params": 79145,
      "wall_seconds": 135.0, "history": [{"accuracy": 0.735, "step": 200},
                                         {"accuracy": 0.744, "step": 400},
                                         {"accuracy": 0.109, "step": 600}]})
  text = newer_memories.report("long_range", str(tmp_path))
  assert "| 16,512 | 79,145 | 0 | 0.109 | 0.109 | 0.744 (400) | 135-135 |" in text, text


def test_the_long_range_table_lists_each_rows_seeds(tmp_path):
  """The RMT and kNN rows run seeds 0-2 (the others seed 0): mean (min-max) and each seed."""
  runs = newer_memories.table_runs("long_range")
  assert {r.path for r in runs if r.path.startswith("rmt/")} == {f"rmt/seed{s}" for s in range(3)}
  assert [r.path for r in runs if r.path.startswith("transformer_xl/")] == ["transformer_xl/seed0"]
  assert [r.path[-1] for r in runs][:3] == ["0"] * 3  # seed by seed
  for seed, accuracy in enumerate((1.0, 0.95, 0.99)):
    _write(tmp_path, "long_range", "rmt", seed, {
        "final": {"accuracy": accuracy}, "state_floats": 513, "num_params": 79649,
        "wall_seconds": 100.0 + seed, "history": [{"accuracy": accuracy, "step": 1000}]})
  text = newer_memories.report("long_range", str(tmp_path))
  assert "| 513 | 79,649 | 0, 1, 2 | 0.980 (0.950-1.000) | 1.000 / 0.950 / 0.990 | 1.000 (1000) " \
         "| 100-102 |" in text, text
