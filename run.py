"""The main job: trains a small NTM on copy on CPU (about a minute) and prints what it reached.

    python run.py                                   # fresh run in runs/copy_ntm-<time>/
    python run.py --config.train.batch_size=32      # any config flag of experiments/train.py
    python run.py --workdir=runs/mine               # resumes if runs/mine has checkpoints

Afterwards it renders plots (input/target/output, head weightings, memory)
into <workdir>/plots/ and prints where results.json, TensorBoard events and plots are.
"""
import os
import sys
import time

_START_TIME = time.time()
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the README's job runs on CPU unless told otherwise
_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _ROOT)

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from memjax import launch  # noqa: E402

_DEFAULT_CONFIG = os.path.join(_ROOT, "configs", "run_copy_ntm.py")
if __name__ == "__main__":  # before the flag is defined: defining it reads the default file
  launch.check_config_overrides(sys.argv, _DEFAULT_CONFIG)
_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "ml_collections config file.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default: runs/copy_ntm-<time>).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  from memjax.training.loop import train_and_evaluate
  config = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join(
      _ROOT, "runs", f"{config.task.name}_{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")
  print(f"memjax: training {config.model.name} on {config.task.name} "
        f"(lengths {config.task.min_length}-{config.task.max_length}) in {workdir}", flush=True)
  launch.enable_compilation_cache()  # a rerun loads the compiled step (memjax/launch.py)
  with launch.one_line_errors():
    results = train_and_evaluate(config, workdir, start_time=_START_TIME)
    from memjax.plots import render_run  # matplotlib: imported after the timed training
    plot_paths = render_run(workdir)
  solved = results["solved_at_seconds"][0]
  print()
  print(f"Result: {results['eval_bits_error_median']:.3f} bits of error per sequence on "
        f"{config.train.eval_batch_size} fresh copy sequences after {results['steps']} steps "
        f"({results['stop_reason']}).")
  if solved >= 0:
    print(f"Solved (< {config.train.target_error} bits/seq) {solved:.1f} s after launch, "
          f"step {results['solved_at_step'][0]}.")
  if "generalization" in results:
    table = ", ".join(f"length {k}: {v[0]:.2f}" for k, v in
                      sorted(results["generalization"].items(), key=lambda kv: int(kv[0])))
    print(f"Generalisation (bits error/seq): {table}")
  print(f"Results: {results['results_path']}")
  print(f"TensorBoard: tensorboard --logdir {os.path.join(workdir, 'tensorboard')}")
  print(f"Plots: {', '.join(plot_paths)}")


if __name__ == "__main__":
  app.run(main)
