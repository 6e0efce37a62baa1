"""Multi-host code path: two CPU processes joined by jax.distributed on 127.0.0.1 train like one."""
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from memjax.training import loop

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLAGS = ["--config.train.num_steps=10", "--config.train.log_every=5", "--config.eval.lengths=()",
         "--config.train.eval_batch_size=100", "--config.model.memory_size=16",
         "--config.task.max_length=5", "--config.train.checkpoint_every=0"]


def _command(workdir, *extra):
  return [sys.executable, str(ROOT / "experiments" / "train.py"),
          f"--config={ROOT / 'configs' / 'copy_ntm.py'}", f"--workdir={workdir}", *FLAGS, *extra]


def _free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def _two_processes_and_one(command, tmp_path):
  """Runs `command(workdir, *flags)` as a 2-process cluster in tmp_path/two, then alone in
  tmp_path/one; returns the two workers' outputs."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  address = f"127.0.0.1:{_free_port()}"
  workers = [subprocess.Popen(command(tmp_path / "two", f"--coordinator_address={address}",
                                      "--num_processes=2", f"--process_id={i}"),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
  outputs = [worker.communicate(timeout=600)[0] for worker in workers]
  assert all(worker.returncode == 0 for worker in workers), outputs[0][-2000:] + outputs[1][-2000:]
  assert "connected to 1 peer" in outputs[0]  # a real two-process cluster
  subprocess.run(command(tmp_path / "one"), env=env, check=True, capture_output=True, timeout=600)
  return outputs


@pytest.mark.slow  # ~1 min of three processes; run with `python -m pytest -m slow`
def test_two_processes_match_one_process(tmp_path):
  _two_processes_and_one(_command, tmp_path)
  assert (tmp_path / "two" / "results.json").exists()  # written by process 0 only, once
  _, two, step_two = loop.load_run(str(tmp_path / "two"), "algorithmic")
  _, one, step_one = loop.load_run(str(tmp_path / "one"), "algorithmic")
  assert step_two == step_one == 10
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                         two.params, one.params)


def _char_lm_command(workdir, text_path, *extra):
  flags = [f"--config.data.path={text_path}", "--config.model.num_layers=1",
           "--config.model.d_model=16", "--config.model.d_ff=32", "--config.model.mem_len=8",
           "--config.train.seg_len=8", "--config.train.batch_size=4",
           "--config.train.num_steps=6", "--config.train.warmup_steps=1",
           "--config.train.log_every=3", "--config.train.eval_every=6",
           "--config.train.checkpoint_every=3", "--config.eval.mem_len=8",
           "--config.eval.seg_len=8", "--config.eval.batch_size=4", "--config.eval.max_segments=3",
           "--config.eval.sample_length=8", "--config.eval.sample_prompt_length=4"]
  return [sys.executable, str(ROOT / "experiments" / "train.py"),
          f"--config={ROOT / 'configs' / 'charlm_transformer_xl.py'}", f"--workdir={workdir}",
          *flags, *extra]


@pytest.mark.slow  # ~1 min of three processes
def test_char_lm_two_processes_match_one_process(tmp_path):
  """The char-LM family on a 2-process cluster: rows split over the processes, same model."""
  import json


  text_path = tmp_path / "corpus.txt"
  text_path.write_text("the quick brown fox jumps over the lazy dog. " * 60)
  _two_processes_and_one(
      lambda workdir, *extra: _char_lm_command(workdir, text_path, *extra), tmp_path)
  two = json.loads((tmp_path / "two" / "results.json").read_text())
  one = json.loads((tmp_path / "one" / "results.json").read_text())
  assert two["devices"] != one["devices"] and len(two["devices"]) == 2
  np.testing.assert_allclose(two["final"]["bits_per_character"],
                             one["final"]["bits_per_character"], rtol=1e-4)
  assert two["final"]["sample"] == one["final"]["sample"]
  _, params_two, step_two = loop.load_run(str(tmp_path / "two"), "char_lm", params_only=True)
  _, params_one, step_one = loop.load_run(str(tmp_path / "one"), "char_lm", params_only=True)
  assert step_two == step_one == 6
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                         params_two, params_one)


@pytest.mark.slow  # ~1 min of three processes
def test_graph_trainer_two_processes_match_one_process(tmp_path):
  """The graph family on 2 processes: evaluation gathers predictions from both."""
  import json

  def command(workdir, *extra):
    return [sys.executable, str(ROOT / "experiments" / "train.py"),
            f"--config={ROOT / 'configs' / 'graph_traversal_ntm.py'}:kv_memory",
            f"--workdir={workdir}", "--config.train.num_steps=4", "--config.train.log_every=2",
            "--config.train.eval_every=2", "--config.train.eval_batch_size=32",
            "--config.train.batch_size=8", *extra]

  outputs = _two_processes_and_one(command, tmp_path)
  two = json.loads((tmp_path / "two" / "results.json").read_text())
  one = json.loads((tmp_path / "one" / "results.json").read_text())
  assert (two["data_parallel_devices"], one["data_parallel_devices"]) == (2, 1)
  assert two["final"] == pytest.approx(one["final"])
  losses = [[line.split("| loss ")[1].split()[0] for line in out.splitlines() if "| loss " in line]
            for out in outputs]
  assert losses[0] == losses[1] and len(losses[0]) == 2  # both processes train the same model
