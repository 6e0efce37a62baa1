"""Renders PNGs of a trained run from its newest checkpoint (the checkout's twin of
`memjax-visualize`; see memjax/cli.py).

    python experiments/visualize.py --workdir=runs/copy_ntm --length=30
    python experiments/visualize.py --workdir=/tmp/delta --import=examples/delta_memory.py

Writes, under <workdir>/plots/, example_seed<k>.png (input, target, predicted
probabilities, wrong bits marked), memory_seed<k>.png (the core's state over time)
and loss.png (training curves), and adds them to the run's TensorBoard events.
`--seed_index=k` picks one of a run's num_seeds models; `--all_slots` draws every
memory slot, not only those a head used.

What memory_seed<k>.png draws of a core's carry is the plotting contract of
memjax/plots.py (fields `read_weights`/`write_weights` [time, heads, slots] and
`memory` [time, slots, word], or the core's own `memory_view(carries)` method);
docs/writing_a_core.md shows both. A carry that does not fit is one line, not a
traceback. A run of your own core needs the file that registers it
(`register_core`), given by --import; the error for a missing one names the file
the run registered it from.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memjax import cli  # noqa: E402

if __name__ == "__main__":
  cli.visualize(sys.argv)
