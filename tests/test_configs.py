"""Every file in configs/ loads, names its run command, and the priority-sort pair trains a few steps."""
import importlib.util
import pathlib

import ml_collections
import pytest

from memjax.training import trainer

CONFIGS = sorted((pathlib.Path(__file__).resolve().parent.parent / "configs").glob("*.py"))


def _load(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_its_docstring_gives_its_run_command(path):
  module = _load(path)
  config = module.get_config()
  assert isinstance(config, ml_collections.ConfigDict)
  assert "experiment" in config, f"{path.name}: no config.experiment (which trainer runs it)"
  assert f"--config=configs/{path.name}" in (module.__doc__ or ""), (
      f"{path.name}: its docstring must give the command that runs it")


@pytest.mark.parametrize("name", [pytest.param("priority_sort_ntm", marks=pytest.mark.slow),
                                  "priority_sort_lstm"])  # the NTM one: 19 s, behind `slow`
def test_priority_sort_configs_train(tmp_path, name):
  """20 steps at a small size through the real trainer; the error is finite and in range."""
  path = next(p for p in CONFIGS if p.stem == name)
  config = _load(path).get_config()
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
  results = trainer.train_and_evaluate(config, str(tmp_path))
  assert results["steps"] == 20
  assert 0.0 <= results["eval_bits_error_median"] <= 4 * 4, results  # 4 outputs of 4 bits
