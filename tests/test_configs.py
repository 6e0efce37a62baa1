"""Every file in configs/ loads, names its run command, and the priority-sort pair trains a few steps."""
import importlib
import pathlib

import ml_collections
import pytest

from memjax.training import loop

_CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(p for p in _CONFIG_DIR.glob("*.py") if p.stem not in ("__init__", "common"))
# Renamed configs: their old names refuse with the new one.
RENAMED = {"kbqa_kvmemory": "kbqa_kv_memory", "babi_kvmemnn": "babi_kv_memnn"}


def _module(path):
  return importlib.import_module(f"configs.{path.stem}")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_its_docstring_gives_its_run_command(path):
  module = _module(path)
  if path.stem in RENAMED:
    renamed = f"configs/{path.name} is now configs/{RENAMED[path.stem]}"
    with pytest.raises(ValueError, match=renamed):
      module.get_config()
    return
  config = module.get_config()
  assert isinstance(config, ml_collections.ConfigDict)
  if "grid" in config:  # a benchmark's grid (configs/memory_zoo.py): its cells are the runs
    assert f"--config=configs/{path.name}" in (module.__doc__ or "")
    assert "experiment" in module.get_config(f"cell/{config.grid}/mqar_p4/lstm/h32/0")
    return
  assert "experiment" in config, f"{path.name}: no config.experiment (which family runs it)"
  assert f"--config=configs/{path.name}" in (module.__doc__ or ""), (
      f"{path.name}: its docstring must give the command that runs it")


def test_config_arguments_are_parsed_by_one_parser_that_names_the_file_and_the_words():
  from configs import common
  options = common.parse_arg("1k,lstm", "configs/babi_dnc.py", size=("10k", "1k"),
                             core=("dnc", "ntm", "lstm"), per_task=False)
  assert options.to_dict() == {"size": "1k", "core": "lstm", "per_task": False}
  assert common.parse_arg("per_task", "x.py", size=("10k", "1k"), per_task=False).per_task
  assert common.parse_arg(None, "x.py", size=("10k", "1k")).size == "10k"
  with pytest.raises(ValueError, match=r"configs/x.py:2k: unknown option '2k'; the argument is "
                                       r"comma-separated words of \['10k\|1k'\]"):
    common.parse_arg("2k", "x.py", size=("10k", "1k"))
  with pytest.raises(ValueError, match="give at most one value of size"):
    common.parse_arg("1k,10k", "x.py", size=("10k", "1k"))


@pytest.mark.parametrize("name", [pytest.param("priority_sort_ntm", marks=pytest.mark.slow),
                                  "priority_sort_lstm"])  # the NTM one: 19 s, behind `slow`
def test_priority_sort_configs_train(tmp_path, name):
  """20 steps at a small size through the loop; the error is finite and in range."""
  config = importlib.import_module(f"configs.{name}").get_config()
  config.task.update(num_bits=4, min_length=6, max_length=6, num_outputs=4)
  if config.model.name == "ntm":  # one head each: the 4 + 4 heads only add compile time here
    config.model.update(memory_size=8, word_size=6, controller_size=32, num_read_heads=1,
                        num_write_heads=1)
  else:
    config.model.hidden_size = 32
  config.train.update(batch_size=8, num_steps=20, log_every=10, eval_every=1000,
                      eval_batch_size=50, target_error=-1.0, checkpoint_every=0,
                      learning_rate=1e-2)
  config.eval.update(lengths=(), num_sequences=10)
  results = loop.train_and_evaluate(config, str(tmp_path))
  assert results["steps"] == 20
  assert 0.0 <= results["eval_bits_error_median"] <= 4 * 4, results  # 4 outputs of 4 bits
