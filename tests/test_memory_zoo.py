"""The memory zoo's grid: every cell's config is a valid run, and the report is computed from
the cells' results as documented (seed means with min-max, state-size order, figures)."""
import json
import os

import jax
import pytest

from benchmarks import memory_zoo
from configs import memory_zoo as zoo_config
from memjax.models.language_models import carry_size
from memjax.training import loop, registry


def test_the_grids_list_every_cell_once():
  small, full = zoo_config.get_config(), zoo_config.get_config("full")
  cells = memory_zoo.grid_cells(small)
  assert len(cells) == len(set(cells))
  mqar = [c for c in cells if c.task.startswith("mqar")]
  # (4 and 16 pairs: 1 LSTM + 3 models x 2 sizes; 64 pairs: the largest of each) x 3 seeds
  assert len(mqar) == (7 + 7 + 4) * 3
  assert {(c.model, c.size) for c in mqar if c.task == "mqar_p64"} == {
      ("lstm", "h64"), ("ntm", "m64x32"), ("delta_rule", "d64"), ("transformer_xl", "mem64")}
  assert {c.task for c in cells} == {"mqar_p4", "mqar_p16", "mqar_p64", "haystack_qa1"}
  full_cells = memory_zoo.grid_cells(full)
  assert {c.model for c in full_cells} == set(zoo_config.MODELS)
  assert {c.task for c in full_cells if c.task.startswith("haystack")} == {
      "haystack_qa1", "haystack_qa2", "haystack_qa3"}


# The small grid's models in the default suite, the full grid's others behind `slow` (20 s).
@pytest.mark.parametrize("model", [
    m if m in zoo_config.get_config().models else pytest.param(m, marks=pytest.mark.slow)
    for m in sorted(zoo_config.MODELS)])
def test_every_model_and_size_of_the_zoo_is_a_valid_mqar_run(model):
  """Config keys, sizes and the model's construction, for every size of the full grid (a
  typo would otherwise surface hours into a GPU run); state sizes grow with the size."""
  floats = []
  for size in zoo_config.MODELS[model][1]:
    config = zoo_config.get_config(f"cell/full/mqar_p4/{model}/{size}/0")
    family_class = registry.family_class(config)
    loop.check_config(config, family_class)
    family = family_class(config)
    params = jax.eval_shape(lambda f=family: f.lm.init(jax.random.PRNGKey(0), 1,
                                                       f.task.seg_len))
    floats.append(carry_size(family.lm, params, family.task.seg_len))
  assert floats == sorted(floats) and (len(floats) == 1 or floats[0] < floats[-1]), floats


@pytest.mark.parametrize("arg, message", [
    ("cell/small/mqar_p4/lstm/h7/0", "size 'h7' of lstm"),
    ("cell/small/mqar_p4/tape/h32/0", "model 'tape'"),
    ("cell/tiny/mqar_p4/lstm/h32/0", "grid 'tiny'"),
    ("cell/small/copy/lstm/h32/0", "task 'copy'"),
    ("cell/small/mqar_p4/lstm/h32", "cell/<grid>/<task>/<model>/<size>/<seed>"),
    ("medium", "the grid is one of"),
])
def test_a_bad_cell_or_grid_is_named(arg, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    zoo_config.get_config(arg)


def _write_cell(root, cell, accuracy, state_floats, by_length=None):
  folder = root / cell.path
  folder.mkdir(parents=True)
  final = {"accuracy": accuracy}
  result = {"final": final, "state_floats": state_floats, "num_params": 1000,
            "wall_seconds": 10.0 + cell.seed, "steps": 400, "config": {}}
  if by_length:
    final["by_length"] = {str(k): v for k, v in by_length.items()}
    result["config"]["task.train_length"] = 256
  (folder / "results.json").write_text(json.dumps(result))


def test_the_report_averages_seeds_and_draws_both_figures(tmp_path):
  config = zoo_config.get_config()
  cells = memory_zoo.grid_cells(config)
  lstm_small = [c for c in cells if c.task == "mqar_p4" and c.model == "lstm" and c.size == "h64"]
  for cell, accuracy in zip(lstm_small, (0.1, 0.2, 0.6)):
    _write_cell(tmp_path, cell, accuracy, 64)
  hay = [c for c in cells if c.task == "haystack_qa1" and c.model == "ntm"]
  for cell, accuracy in zip(hay, (0.5, 0.7, 0.9)):
    _write_cell(tmp_path, cell, accuracy, 3000, {1024: accuracy - 0.1, 4096: accuracy - 0.2})
  rows = memory_zoo.collect(cells, str(tmp_path))
  assert len(rows) == 6
  summary = {(s["task"], s["model"]): s for s in memory_zoo.summarise(rows)}
  mean, low, high = summary[("mqar_p4", "lstm")]["accuracy"]
  assert (round(mean, 6), low, high) == (0.3, 0.1, 0.6)
  by_length = summary[("haystack_qa1", "ntm")]["by_length"]
  assert sorted(by_length) == [256, 1024, 4096]
  assert by_length[256][0] == pytest.approx(0.7) and by_length[4096][0] == pytest.approx(0.5)
  text = memory_zoo.tables(memory_zoo.summarise(rows), config, "test machine", 66.0)
  assert "| lstm | h64 | 64 | 1,000 | 0.300 (0.10-0.60) | 10-12 |" in text  # only pairs run
  assert "| ntm | m16x16 | 3,000 | 0.700 (0.50-0.90) | 0.600 (0.40-0.80) | 0.500" in text
  figures = memory_zoo.draw(memory_zoo.summarise(rows), config, str(tmp_path))
  assert [os.path.basename(f) for f in figures] == ["mqar.png", "haystack.png"]
  assert all(os.path.getsize(f) > 10_000 for f in figures)


def test_the_grid_trains_seed_by_seed_costliest_task_first():
  """Side-by-side cells are different programs (later seeds read the compilation cache)
  and the longest sequences go first (the grid does not end on one long cell)."""
  cells = memory_zoo.grid_cells(zoo_config.get_config())
  order = memory_zoo.training_order(cells)
  assert sorted(order) == sorted(cells)
  assert [c.seed for c in order] == sorted(c.seed for c in order)
  first_seed = [c.task for c in order if c.seed == 0]
  assert first_seed.index("mqar_p4") > max(i for i, t in enumerate(first_seed)
                                           if t == "mqar_p64")
  assert first_seed[-1] == "mqar_p4"


def test_the_report_states_the_grids_wall_clock():
  config = zoo_config.get_config()
  runs = [dict(start="2026-01-01 10:00:00", end="2026-01-01 10:30:00", cells=50, parallel=2,
               wall_seconds=1800.0),
          dict(start="2026-01-01 11:00:00", end="2026-01-01 11:12:00", cells=34, parallel=2,
               wall_seconds=720.0)]
  text = memory_zoo.tables([], config, "test machine", 6000.0, runs)
  assert ("42.0 minutes of wall clock, 2026-01-01 10:00:00 to 2026-01-01 11:12:00 "
          "(2 launches, 84 cells, 2 at a time); 100 cell-minutes") in text
