"""Prints, as JSON, the loss curve of a few train steps on 1 and on N devices (run by test_parallel.py).

Needs XLA_FLAGS=--xla_force_host_platform_device_count=N set before JAX starts.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "configs"))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

import copy_ntm  # noqa: E402
from memjax.training.trainer import Experiment  # noqa: E402


def config_for(core, num_devices, num_seeds):
  config = copy_ntm.get_config()
  config.task.update(max_length=5, num_bits=4)
  if core == "ntm":
    config.model.update(memory_size=8, word_size=6, controller_size=16)
  else:
    config.model = ml_collections.ConfigDict({"name": core, "hidden_size": 16})
  config.train.update(batch_size=16, learning_rate=1e-2)
  config.parallel.num_devices = num_devices
  config.num_seeds = num_seeds
  return config


def curve(core, num_devices, num_seeds, steps=6, inspect_hlo=False):
  experiment = Experiment(config_for(core, num_devices, num_seeds))
  state = experiment.init_state(0)
  losses = []
  for _ in range(steps):
    state, metrics = experiment.train_step(state)
    losses.append(np.asarray(metrics["loss"]).tolist())
  result = {"losses": losses,
            "param_sharding": str(jax.tree_util.tree_leaves(state.params)[0].sharding)}
  if inspect_hlo:  # a second (AOT) compile: done once per device count to keep the test short
    hlo = experiment.train_step.lower(experiment, state).compile().as_text()
    result["all_reduce"] = "all-reduce" in hlo
  return result


if __name__ == "__main__":
  # Runs named on the command line as <core>_<num_seeds> (default: ntm_1 lstm_1 ntm_2).
  runs = sys.argv[1:] or ["ntm_1", "lstm_1", "ntm_2"]
  n = jax.device_count()
  out = {}
  for core, seeds in ((name.rsplit("_", 1)[0], int(name.rsplit("_", 1)[1])) for name in runs):
    inspect = (core, seeds) == ("ntm", 1)
    out[f"{core}_{seeds}"] = {"1": curve(core, 1, seeds, inspect_hlo=inspect),
                              str(n): curve(core, n, seeds, inspect_hlo=inspect)}
  print("RESULT " + json.dumps(out))
