"""memjax: differentiable external memory in JAX/Flax."""
__version__ = "0.1.0"

from memjax import xla_cpu as _xla_cpu

# Before any JAX computation creates the CPU backend, which reads XLA_FLAGS once
# (memjax/xla_cpu.py: which kernels, why, and how to opt out).
_xla_cpu.apply_cpu_defaults()


def load(workdir, seed=0, imports=()):
  """A trained run's model, one seed's parameters and its config, for a notebook:

      run = memjax.load("/tmp/copy_ntm")                 # a memjax.provenance.LoadedRun
      logits = run.unroll(inputs)                        # inputs [batch, time, features]

  `seed`: which of the run's `num_seeds` models (the checkpoint's parameters lead with a
  seed axis `[num_seeds, ...]`). `imports`: files to run first, as the launchers'
  `--import`, e.g. the one that registers a core of your own. See
  `memjax.provenance.load`.
  """
  from memjax.provenance import load as _load  # lazy: `import memjax` stays free of JAX
  return _load(workdir, seed, imports)
