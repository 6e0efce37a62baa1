"""Samples text from a trained character-level LM run, its newest checkpoint (the checkout's
twin of `memjax-sample`; see memjax/cli.py).

    python experiments/sample.py --workdir=/tmp/charlm_xl --prompt="ROMEO:" --length=300
    python experiments/sample.py --workdir=/tmp/charlm_xl --temperature=0   # greedy, from the
                                                                            # validation text's start

Token by token: a segment model through its key/value cache
(`memjax.transformer.fast_eval.generate`), each character seeing the last
max(eval.mem_len, eval.seg_len - 1) characters; a recurrent core through its carry.
A run of your own core needs `--import=` of the file that registers it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memjax import cli  # noqa: E402

if __name__ == "__main__":
  cli.sample(sys.argv)
