"""A trained core in a notebook, as a script: `memjax.load`, one example, the head's path.

    python experiments/train.py --import=examples/tape_memory.py \
        --config=configs/copy_ntm.py:tape_memory --workdir=/tmp/tape \
        --config.task.max_length=8 --config.model.tape_size=12 --config.eval.lengths="(8,10)"
    python examples/walkthrough_notebook.py /tmp/tape

Each block below is one notebook cell.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # a checkout's memjax, when not installed

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import memjax  # noqa: E402


def main(workdir: str) -> None:
  # -- load: the model (a flax module), seed 0's parameters, the config -----------------------
  run = memjax.load(workdir, imports=[os.path.join(_HERE, "tape_memory.py")])
  print(f"{type(run.model).__name__} from {run.workdir}, step {run.step}, seed {run.seed} of "
        f"{run.config.num_seeds}; tape {run.model.tape_size} x {run.model.width}")
  print(f"parameters: {sum(leaf.size for leaf in jax.tree_util.tree_leaves(run.params)):,} "
        f"numbers in {sorted(run.params)}")

  # -- one sequence through the core: inputs [batch, time, features] --------------------------
  task = run.family.task
  length = task.max_length
  batch = task.build(jax.random.PRNGKey(7), jnp.array([length]), length)
  logits, carries = run.unroll(batch.inputs, return_carries=True)
  predicted = np.asarray(logits[0] > 0)
  scored = np.asarray(batch.mask[0]) > 0
  wrong = int(np.sum((predicted != (np.asarray(batch.targets[0]) > 0.5))[scored]))
  print(f"copy of length {length}: {wrong} wrong bit(s) of {int(scored.sum()) * task.output_size}")

  # -- what the head did: the most weighted cell at each step ---------------------------------
  cells = np.asarray(jnp.argmax(carries.head[0], axis=-1))
  print("head cell per step:", " ".join(str(c) for c in cells))

  # -- one step by hand: run.apply is model.apply with the parameters bound -------------------
  carry = run.initial_carry(1)
  carry, step_logits = run.apply(carry, batch.inputs[:, 0])
  np.testing.assert_allclose(step_logits, logits[:, 0], atol=1e-5)
  print("one step by hand agrees with the unroll")


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tape")
