"""Samples text from a trained character-level LM run (its newest checkpoint).

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

from absl import app, flags, logging  # noqa: E402

from memjax import launch  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "A char-LM run's workdir (config.json, checkpoints/).")
_PROMPT = flags.DEFINE_string("prompt", "", "Text to continue (default: the first "
                              "--prompt_length characters of the validation split).")
_PROMPT_LENGTH = flags.DEFINE_integer("prompt_length", 64, "Used when --prompt is empty.")
_LENGTH = flags.DEFINE_integer("length", 300, "Characters to sample.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Softmax temperature (0: greedy).")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_IMPORTS = flags.DEFINE_multi_string("import", [], "Python files to run first (not as __main__), "
                                     "e.g. the one that registers your own core.")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from memjax.training.loop import load_run
  if _LENGTH.value < 1:
    sys.exit(f"error: --length={_LENGTH.value} must be >= 1")
  if _TEMPERATURE.value < 0:
    sys.exit(f"error: --temperature={_TEMPERATURE.value} must be >= 0")
  with launch.one_line_errors():
    family, params, step = load_run(_WORKDIR.value, "char_lm", params_only=True)
    sample = family.sample(params, _LENGTH.value, _PROMPT_LENGTH.value, _TEMPERATURE.value,
                           _SEED.value, prompt=_PROMPT.value or None)
  print(f"# {family.config.model.name}, step {step}, temperature {_TEMPERATURE.value}")
  print(sample["prompt"] + sample["continuation"])


if __name__ == "__main__":
  launch.run_imports(sys.argv)
  app.run(main)
