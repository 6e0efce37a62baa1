"""Each run records how it was made (memjax/provenance.py, the loop's results.json and
TensorBoard events): versions, commit, devices and config in results.json; the config,
provenance, generalisation table and final figures in TensorBoard; no `/seed0` tags for a
single seed."""
import json
import pathlib
import struct
import subprocess

import jax
import numpy as np
import pytest

import memjax
from configs import copy_ntm
from memjax import provenance
from memjax.training import loop
from memjax.training.metrics import MetricWriter
from memjax.training.workdir import flatten_config

ROOT = pathlib.Path(__file__).resolve().parent.parent


def tiny_config(**train):
  config = copy_ntm.get_config()
  config.task.min_length, config.task.max_length, config.task.num_bits = 1, 3, 3
  config.model.update(memory_size=6, word_size=4, controller_size=16)
  config.train.update(batch_size=4, num_steps=4, log_every=2, eval_every=1000,
                      eval_batch_size=8, target_error=-1.0, checkpoint_every=0)
  config.train.update(train)
  config.eval.lengths = (2, 3)
  config.eval.num_sequences = 4
  return config


def read_events(logdir: pathlib.Path):
  """`{tag: [summary value, ...]}` of every event file under `logdir` (TFRecord framing:
  length u64, its CRC u32, the Event proto, its CRC u32)."""
  from tensorboardX.proto import event_pb2
  tags = {}
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data, offset = path.read_bytes(), 0
    while offset < len(data):
      (length,) = struct.unpack("<Q", data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 16 + length
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(value)
  return tags


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("copy")
  config = tiny_config()
  results = loop.train_and_evaluate(config, str(workdir))
  return workdir, config, results


def test_results_json_records_versions_commit_devices_and_config(run):
  workdir, config, _ = run
  saved = json.loads((workdir / "results.json").read_text())
  made = saved["provenance"]
  assert made["memjax"] == memjax.__version__
  assert made["jax"] == jax.__version__ and made["python"].count(".") == 2
  for package in ("jaxlib", "flax", "optax", "numpy"):
    assert made[package], package
  assert made["devices"]["count"] == jax.device_count()
  assert made["devices"]["kinds"] == sorted({d.device_kind for d in jax.devices()})
  assert made["devices"]["platform"] == jax.devices()[0].platform
  head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                        text=True)
  if head.returncode == 0:  # the suite runs from a checkout
    assert made["git_commit"] == head.stdout.strip()
    assert isinstance(made["git_dirty"], bool)
  assert saved["launch"]["command"] and saved["launch"]["cwd"]  # per launch, not per run
  assert "command" not in made
  assert saved["config"] == json.loads(json.dumps(flatten_config(config)))
  assert saved["config"]["model.memory_size"] == 6


def test_version_falls_back_and_no_checkout_gives_no_commit(monkeypatch):
  monkeypatch.delattr(memjax, "__version__")
  assert provenance.memjax_version() == "0.1.0"
  provenance.git_state.cache_clear()
  monkeypatch.setattr(provenance, "_git", lambda root, *args: None)  # git missing, or no checkout
  try:
    assert provenance.git_state() == {"commit": None, "dirty": None}
  finally:
    provenance.git_state.cache_clear()


def test_tensorboard_gets_config_provenance_table_and_hparams_without_seed0(run):
  workdir, _, results = run
  tags = read_events(workdir / "tensorboard")
  for tag in ("config/text_summary", "provenance/text_summary", "generalization/text_summary",
              "_hparams_/experiment", "_hparams_/session_start_info", "hparams/bits_error"):
    assert tag in tags, sorted(tags)
  assert "loss" in tags
  assert not [tag for tag in tags if "/seed" in tag], sorted(tags)
  table = tags["generalization/text_summary"][0].tensor.string_val[0].decode()
  assert "| seed | length 2 | length 3 |" in table
  assert f"{results['generalization']['3'][0]:.3f}" in table
  config_text = tags["config/text_summary"][0].tensor.string_val[0].decode()
  assert "| `model.memory_size` | `6` |" in config_text
  start = tags["_hparams_/session_start_info"][0].metadata.plugin_data.content
  assert b"model.memory_size" in start


def test_several_seeds_keep_one_tag_per_seed(tmp_path):
  writer = MetricWriter(str(tmp_path))
  writer.write_scalars(1, {"loss": np.array([0.5]), "rate": 3.0, "bits": np.array([1.0, 2.0])})
  writer.close()
  tags = read_events(tmp_path / "tensorboard")
  assert {"loss", "rate", "bits/seed0", "bits/seed1"} <= set(tags)
  assert "loss/seed0" not in tags


def test_markdown_tables():
  assert provenance.config_markdown({"b": 2, "a": "x"}).splitlines()[2:] == [
      "| `a` | `'x'` |", "| `b` | `2` |"]
  table = provenance.generalization_markdown({"10": [0.5, 1.25], "5": [0.0, 0.125]})
  assert table.splitlines()[:4] == ["| seed | length 5 | length 10 |", "|---|---|---|",
                                    "| 0 | 0.000 | 0.500 |", "| 1 | 0.125 | 1.250 |"]
