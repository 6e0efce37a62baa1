"""NTM on copy (Graves et al. 2014, sec. 4.1): lengths 1-20, 8-bit vectors.

Run:
    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/copy_ntm
Smoke size (seconds):
    python experiments/train.py --config=configs/copy_ntm.py --workdir=/tmp/smoke \
      --config.train.num_steps=20 --config.task.max_length=5 --config.model.memory_size=16
Another registered core on the same task, training and evaluation (its model block holds
that core's defaults, each a flag):
    python experiments/train.py --import=examples/tape_memory.py \
      --config=configs/copy_ntm.py:tape_memory --workdir=/tmp/tape --config.model.tape_size=24
"""
import ml_collections


def get_config(core: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "algorithmic"   # the family that trains it (memjax/training/families/)
  config.seed = 0                     # PRNG seed for parameters and data
  config.num_seeds = 1                # K > 1 trains K independent models at once (vmap)

  config.task = ml_collections.ConfigDict()
  config.task.name = "copy"           # copy | repeat_copy | associative_recall | priority_sort
  config.task.num_bits = 8            # width of each random binary vector
  config.task.min_length = 1          # shortest training sequence
  config.task.max_length = 20         # longest training sequence (fixes the padded length)

  config.model = ml_collections.ConfigDict()
  config.model.name = "ntm"           # any registered core: ntm | lstm | gru | ...
  config.model.controller = "lstm"    # lstm | feedforward
  config.model.controller_size = 100  # controller hidden units
  config.model.memory_size = 128      # N memory slots (>= longest sequence to copy)
  config.model.word_size = 20         # M, width of a slot
  config.model.num_read_heads = 1
  config.model.num_write_heads = 1
  config.model.shift_range = 1        # heads move -1, 0 or +1 slots per step
  config.model.memory_init = "constant"  # constant (1e-6) | learned | random
  config.model.clip_value = 20.0      # controller outputs clipped to +-clip_value (0: off)
  config.model.compute_dtype = "float32"  # float32 | bfloat16 matmuls (params and memory stay float32)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16
  config.train.num_steps = 5000       # upper bound; the run stops at target_error
  config.train.optimizer = "adam"     # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 3e-3
  config.train.schedule = "constant"  # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 0       # for warmup_cosine
  config.train.grad_clip_norm = 10.0  # global-norm clipping (0: off)
  config.train.curriculum_steps = 0   # >0: max training length grows from task.min_length over this many steps
  config.train.log_every = 100        # progress line + TensorBoard scalars
  config.train.eval_every = 500       # full evaluation on eval_batch_size fresh sequences
  config.train.eval_batch_size = 1000
  config.train.target_error = 0.1     # stop once every seed is below this many bits/sequence (-1: never)
  config.train.stop_when = "all"      # all | any: stop when every seed (or the first one) reaches target_error
  config.train.screen_every = 25      # at most one early full evaluation per this many steps
  config.train.checkpoint_every = 500 # orbax checkpoint period in steps (0: only at the end)
  config.train.keep_checkpoints = 3   # newest checkpoints kept
  config.train.max_consecutive_nonfinite = 10  # stop after this many NaN/Inf steps in a row
  config.train.debug_nonfinite_steps = ()      # test hook: steps whose loss is forced to NaN
  config.train.stop_at_step = 0       # test hook: stop (as if killed) after this step (0: off)

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0     # data-parallel devices (0: all); train.batch_size must divide evenly

  config.eval = ml_collections.ConfigDict()
  config.eval.lengths = (10, 20, 40, 80, 120)  # generalisation table after training
  config.eval.num_sequences = 100              # sequences per length in that table
  config.eval.memory_size = 0                  # >0: memory slots for that table (NTM weights do not depend on N)
  if core and core != "ntm":  # `configs/copy_ntm.py:<core>`: that core's own model block
    from memjax.cores import registry
    try:
      config.model = ml_collections.ConfigDict(registry.core_defaults(core))
    except ValueError as error:
      raise ValueError(f"--config=configs/copy_ntm.py:{core}: {error}") from None
  return config
