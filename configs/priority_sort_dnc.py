"""DNC on priority sort (Graves et al. 2014, sec. 4.5): 20 vectors in, the top 16 out, sorted.

Same fields as the NTM configs (`configs/copy_ntm.py`) with `model.name = "dnc"`.
Run:
    python experiments/train.py --config=configs/priority_sort_dnc.py \
      --workdir=/tmp/priority_sort_dnc
Smoke size (seconds):
    python experiments/train.py --config=configs/priority_sort_dnc.py \
      --workdir=/tmp/smoke_priority_sort_dnc \
      --config.train.num_steps=20 --config.task.min_length=5 --config.task.max_length=5 \
      --config.task.num_outputs=4 --config.model.memory_size=8
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "algorithmic"   # which trainer runs it (see experiments/train.py)
  config.seed = 0                     # PRNG seed for parameters and data
  config.num_seeds = 1                # K > 1 trains K independent models at once (vmap)

  config.task = ml_collections.ConfigDict()
  config.task.name = "priority_sort"  # copy | repeat_copy | associative_recall | priority_sort
  config.task.num_bits = 8            # width of each random binary vector
  config.task.min_length = 20         # vectors given (the paper uses exactly 20)
  config.task.max_length = 20
  config.task.num_outputs = 16        # the highest-priority vectors to emit, sorted

  config.model = ml_collections.ConfigDict()
  config.model.name = "dnc"           # memjax/cores/dnc.py
  config.model.controller_size = 64   # LSTM controller hidden units
  config.model.memory_size = 32       # N slots (>= number of input vectors)
  config.model.word_size = 16         # W, width of a slot
  config.model.num_read_heads = 4     # R read heads (the DNC paper's default)
  config.model.num_write_heads = 1    # the paper's single write head
  config.model.clip_value = 20.0      # controller and core outputs clipped to +-this (0: off)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16
  config.train.num_steps = 20000      # upper bound; the run stops at target_error
  config.train.optimizer = "adam"     # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 3e-3
  config.train.schedule = "constant"  # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 0       # for warmup_cosine
  config.train.grad_clip_norm = 10.0  # global-norm clipping (0: off)
  config.train.log_every = 100        # progress line + TensorBoard scalars
  config.train.eval_every = 500       # full evaluation on eval_batch_size fresh sequences
  config.train.eval_batch_size = 1000
  config.train.target_error = 0.1     # stop once every seed is below this many bits/seq (-1: never)
  config.train.screen_every = 25      # at most one early full evaluation per this many steps
  config.train.checkpoint_every = 500 # orbax checkpoint period in steps (0: only at the end)
  config.train.keep_checkpoints = 3   # newest checkpoints kept
  config.train.max_consecutive_nonfinite = 10  # stop after this many NaN/Inf steps in a row
  config.train.debug_nonfinite_steps = ()      # test hook: steps whose loss is forced to NaN
  config.train.stop_at_step = 0       # test hook: stop (as if killed) after this step (0: off)
  config.train.curriculum_steps = 0   # >0: max training length grows from task.min_length over this many steps

  config.eval = ml_collections.ConfigDict()
  config.eval.lengths = (20,)          # the paper evaluates at the training size only
  config.eval.num_sequences = 100     # sequences per length in that table
  config.eval.memory_size = 0         # >0: memory slots for that table (DNC weights do not depend on N)
  return config
