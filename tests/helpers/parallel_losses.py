"""Prints, as JSON, the loss curve of a few train steps on 1 and on N devices (run by test_parallel.py).

Needs XLA_FLAGS=--xla_force_host_platform_device_count=N set before JAX starts.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from configs import (babi_dnc, babi_memn2n, charlm_compressive, charlm_transformer_xl,  # noqa: E402
                     copy_ntm, graph_traversal_ntm, kbqa_kv_memory, long_range_xl)
from memjax.training import loop  # noqa: E402
from memjax.training import registry  # noqa: E402
from memjax.training.family import one_seed  # noqa: E402


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


def _family(config):
  return registry.family_class(config)(config)


def _train(family, steps):
  """(state, [per-step losses]) of `steps` loop steps from the family's initial state."""
  state, losses = family.init_state(), []
  for step in range(steps):
    state, metrics = loop.train_step(family, state, family.batch(step))
    losses.append(np.asarray(metrics["loss"]).tolist())
  return state, losses


def curve(core, num_devices, num_seeds, steps=6, inspect_hlo=False):
  family = _family(config_for(core, num_devices, num_seeds))
  state, losses = _train(family, steps)
  result = {"losses": losses,
            "param_sharding": str(jax.tree_util.tree_leaves(state.params)[0].sharding)}
  if inspect_hlo:  # a second (AOT) compile: done once per device count to keep the test short
    hlo = loop._jitted_step.lower(family, state, ()).compile().as_text()
    result["all_reduce"] = "all-reduce" in hlo
  return result


def lm_config_for(kind, num_devices, text_path):
  """A tiny char-LM trainer run: `xl` or `compressive` on a text file, or `long_range` XL."""
  if kind in ("xl", "compressive"):
    if kind == "xl":
      config = charlm_transformer_xl.get_config()
      config.model.mem_len = 8
    else:  # both memories split along the batch
      config = charlm_compressive.get_config()
      config.model.update(mem_len=4, compressed_mem_len=2, compression_rate=2)
    config.data.path = text_path
    config.train.update(batch_size=16, seg_len=8)
  else:
    config = long_range_xl.get_config()
    config.task.update(num_segments=2, seg_len=8)
    config.eval.batch_size = 64
    config.model.mem_len = 4
    config.train.batch_size = 16
  config.model.update(num_layers=1, d_model=16, num_heads=2, d_ff=32)
  config.train.update(learning_rate=1e-2, schedule="constant")
  config.parallel.num_devices = num_devices
  return config


def lm_curve(kind, num_devices, text_path, steps=6):
  config = lm_config_for(kind, num_devices, text_path)
  if kind != "long_range":
    config.eval.update(max_segments=3, batch_size=16)
  family = _family(config)
  state, losses = _train(family, steps)
  losses = [loss[0] for loss in losses]
  evaluation = family.evaluate(state, steps, final=False)
  carry = jax.tree_util.tree_leaves(state.carry)
  extra = {}
  if kind == "xl":
    # What sample.py (loop.load_run) builds: a training batch (12) that does not split
    # over the devices still evaluates, on every device.
    from memjax.training.families.language_model import CharLMFamily
    config = lm_config_for(kind, num_devices, text_path)
    config.eval.update(max_segments=3, batch_size=16)
    config.train.batch_size = 12
    extra["eval_only"] = CharLMFamily(config, for_training=False).bits_per_character(
        one_seed(state.params))
    extra["streams_sharding"] = str(family._device_streams.sharding)
  return {**extra, "losses": losses, "eval": evaluation,
          "param_sharding": str(jax.tree_util.tree_leaves(state.params)[0].sharding),
          "carry_sharding": str(carry[0].sharding) if carry else ""}


def babi_dnc_curve(num_devices, num_seeds=2, steps=4):
  """The bAbI-recurrent family's DNC (2 vmapped seeds) on tiny stories: losses, predictions."""
  import tempfile
  from tests.family_configs import write_babi
  config = babi_dnc.get_config("1k")
  config.data.update(babi_dir=str(write_babi(__import__("pathlib").Path(tempfile.mkdtemp()))),
                     tasks=(1, 8))
  config.model.update(controller_size=16, memory_size=8, word_size=6, num_read_heads=2)
  config.num_seeds = num_seeds
  config.train.update(learning_rate=1e-2, length_buckets=(32, 64))
  config.parallel.num_devices = num_devices
  family = _family(config)
  state, losses = _train(family, steps)
  from memjax import parallel
  inputs = family.train_buckets[0].stories.inputs[:16]
  predicted = family.predict(state.params, parallel.put_batch(inputs, family.mesh))
  return {"losses": losses, "predictions": parallel.to_host(predicted).tolist(),
          "predictions_sharding": str(predicted.sharding),
          "param_sharding": str(jax.tree_util.tree_leaves(state.params)[0].sharding)}


def graph_kv_curve(num_devices, steps=4):
  """The KBQA/graph trainer: the key-value memory on graph traversal, end to end in a temp dir."""
  config = graph_traversal_ntm.get_config("kv_memory")
  config.train.update(num_steps=steps, log_every=1, eval_every=2, eval_batch_size=32,
                      batch_size=8)
  return family_run_curve(config, num_devices)


def kbqa_kv_curve(num_devices, steps=4):
  """KB-QA with the key-value memory on a tiny synthetic KB; 12 questions a step, so that
  6 devices split it, and evaluation chunks of 1024 that 6 devices do not (padded to 1026)."""
  config = kbqa_kv_memory.get_config()
  config.task.update(num_films=40, num_people=40, num_directors=8, num_cities=8, num_countries=3,
                     questions_per_hop=120, max_candidates=32)
  config.train.update(num_steps=steps, log_every=1, eval_every=2, checkpoint_every=0,
                      batch_size=12)
  return family_run_curve(config, num_devices)


def family_run_curve(config, num_devices):
  """Runs the family through `loop.train_and_evaluate` in a temp dir: printed losses, results,
  and the sharding of every batch the family puts on the devices."""
  import contextlib
  import io
  import re
  import tempfile
  from memjax import parallel
  config.parallel.num_devices = num_devices
  printed = io.StringIO()
  placed = []
  put_batch = parallel.put_batch

  def recording_put_batch(tree, mesh, axis=0):
    out = put_batch(tree, mesh, axis)
    placed.append(str(jax.tree_util.tree_leaves(out)[0].sharding.spec))
    return out

  parallel.put_batch = recording_put_batch
  try:
    with contextlib.redirect_stdout(printed):
      results = loop.train_and_evaluate(config, tempfile.mkdtemp())
  finally:
    parallel.put_batch = put_batch
  losses = [float(x) for x in re.findall(r"\| loss ([-0-9.naif]+)", printed.getvalue())]
  return {"losses": losses, "final": results["final"], "batch_specs": sorted(set(placed)),
          "history": results["history"], "devices": results["data_parallel_devices"]}


def babi_memn2n_curve(num_devices, num_seeds=8):
  """MemN2N on bAbI task 1 (shared data, $MEMJAX_BABI_DIR), 8 seeds: per-seed errors, losses."""
  import contextlib
  import io
  import re
  import tempfile
  from memjax import checkpoint as checkpoint_lib
  config = babi_memn2n.get_config("pe_ls_rn,per_task")
  config.data.update(babi_dir=os.environ["MEMJAX_BABI_DIR"], tasks=(1,), mode="joint",
                     memory_size=20)
  config.num_seeds = num_seeds
  config.train.update(linear_start=False, num_epochs=3, memory_buckets=(), eval_every=3,
                      checkpoint_every=0)
  config.parallel.num_devices = num_devices
  printed = io.StringIO()
  saved_sharding = []  # the trained parameters' sharding, as the trainer checkpoints them
  save = checkpoint_lib.Checkpointer.save

  def recording_save(self, step, state, force=False):
    saved_sharding.append(str(jax.tree_util.tree_leaves(state.params)[0].sharding))
    return save(self, step, state, force)

  checkpoint_lib.Checkpointer.save = recording_save
  try:
    with contextlib.redirect_stdout(printed):
      results = loop.train_and_evaluate(config, tempfile.mkdtemp())
  finally:
    checkpoint_lib.Checkpointer.save = save
  return {"test_error_pct": np.asarray(results["test_error_pct_per_seed"]["1"]).tolist(),
          "param_sharding": saved_sharding[-1],
          "loss": re.findall(r"\| loss ([0-9.]+)", printed.getvalue()),
          "devices": results["data_parallel_devices"]}


def _text_file():
  """A fixed 20k-character text (a small vocabulary, some structure) in a temp directory."""
  import tempfile
  words = np.random.default_rng(0).choice(["the ", "cat ", "sat ", "on ", "a ", "mat. "], 4000)
  path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
  with open(path, "w") as f:
    f.write("".join(words))
  return path


if __name__ == "__main__":
  # Runs named on the command line as <core>_<num_seeds> (default: ntm_1 lstm_1 ntm_2), or
  # lm_xl / lm_compressive / lm_long_range (the char-LM trainer).
  runs = sys.argv[1:] or ["ntm_1", "lstm_1", "ntm_2"]
  n = jax.device_count()
  out = {}
  for kind in [name[len("lm_"):] for name in runs if name.startswith("lm_")]:
    path = _text_file()
    out[f"lm_{kind}"] = {"1": lm_curve(kind, 1, path), str(n): lm_curve(kind, n, path)}
  if "babi_memn2n" in runs:
    out["babi_memn2n"] = {"1": babi_memn2n_curve(1), str(n): babi_memn2n_curve(n)}
  if "graph_kv" in runs:
    out["graph_kv"] = {"1": graph_kv_curve(1), str(n): graph_kv_curve(n)}
  if "kbqa_kv_6" in runs:  # 6 of the devices: a count that does not divide 1024
    out["kbqa_kv_6"] = {"1": kbqa_kv_curve(1), "6": kbqa_kv_curve(6)}
  if "babi_dnc" in runs:
    out["babi_dnc"] = {"1": babi_dnc_curve(1), str(n): babi_dnc_curve(n)}
  trainer_runs = ("babi_dnc", "graph_kv", "kbqa_kv_6", "babi_memn2n")
  runs = [name for name in runs if not name.startswith("lm_") and name not in trainer_runs]
  for core, seeds in ((name.rsplit("_", 1)[0], int(name.rsplit("_", 1)[1])) for name in runs):
    inspect = (core, seeds) == ("ntm", 1)
    out[f"{core}_{seeds}"] = {"1": curve(core, 1, seeds, inspect_hlo=inspect),
                              str(n): curve(core, n, seeds, inspect_hlo=inspect)}
  print("RESULT " + json.dumps(out))
