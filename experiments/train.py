"""Trains any memjax experiment from an ml_collections config file (the checkout's twin of
`memjax-train`; see memjax/cli.py).

    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/copy_ntm \
        --config.model.memory_size=256
    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/mine \
        --import=my_core.py --config.model.name=my_core      # a core of your own

Relaunching with the same --workdir resumes from the newest good checkpoint.
Every family prints the same final summary: its headline figure, why it stopped,
and where results went.
"""
import os
import sys
import time

_START_TIME = time.time()  # reported times include interpreter and JAX start-up
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memjax import cli  # noqa: E402

if __name__ == "__main__":
  cli.train(sys.argv, start_time=_START_TIME)
