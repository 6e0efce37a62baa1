"""Multi-host code path: two CPU processes joined by jax.distributed on 127.0.0.1 train like one."""
import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from memjax.training import trainer

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


@pytest.mark.slow  # ~1 min of three processes; run with `python -m pytest -m slow`
def test_two_processes_match_one_process(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  address = f"127.0.0.1:{_free_port()}"
  workers = [subprocess.Popen(_command(tmp_path / "two", f"--coordinator_address={address}",
                                       "--num_processes=2", f"--process_id={i}"),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
  outputs = [worker.communicate(timeout=600)[0] for worker in workers]
  assert all(worker.returncode == 0 for worker in workers), outputs[0][-2000:] + outputs[1][-2000:]
  assert "connected to 1 peer" in outputs[0]  # a real two-process cluster
  assert (tmp_path / "two" / "results.json").exists()  # written by process 0 only, once
  subprocess.run(_command(tmp_path / "one"), env=env, check=True, capture_output=True, timeout=600)
  _, two, step_two = trainer.load_experiment(str(tmp_path / "two"))
  _, one, step_one = trainer.load_experiment(str(tmp_path / "one"))
  assert step_two == step_one == 10
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                         two.params, one.params)
