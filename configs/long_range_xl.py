"""Long-range recall across segments: Transformer-XL solves it, mem_len = 0 stays at chance.

The value to recall lies >= 2 segments (31+ tokens) before the query
(memjax/tasks/long_range.py); with 16-token segments only a memory reaching
back can see it.

Run (XL, then the no-memory control):
    python experiments/train.py --config=configs/long_range_xl.py --workdir=/tmp/long_range_xl
    python experiments/train.py --config=configs/long_range_xl.py --workdir=/tmp/long_range_m0 \
      --config.model.mem_len=0
Smoke size (seconds):
    python experiments/train.py --config=configs/long_range_xl.py --workdir=/tmp/smoke \
      --config.train.num_steps=5

The argument `long` is the far task of the newer memories' configs
(`long_range_<model>.py`, `local_memory_config` below): 5 segments, so the answer lies
>= 4 segments back, beyond XL's 2-segment memory; XL is there the control that stays near
chance:
    python experiments/train.py --config=configs/long_range_xl.py:long --workdir=/tmp/lr5_xl
"""
import ml_collections


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """The 3-segment task (no argument) or the 5-segment one of the newer memories (`long`)."""
  if arg == "long":
    return far_task(_config())
  if arg:
    raise ValueError(f"--config=configs/long_range_xl.py:{arg}: the argument is '' or 'long'")
  return _config()


def far_task(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with the answer >= 4 segments back: 5 segments, trained as the 3-segment task
  (600 steps, constant learning rate). `task.train_gap = "mixed"` with a longer schedule is
  the variant docs/results.md#long-range-recall reports beside it."""
  config.task.num_segments = 5       # the answer lies >= 4 segments back
  return config


def _config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "long_range"   # memjax.training.families.language_model
  config.seed = 0                    # PRNG seed for parameters and batches

  config.task = ml_collections.ConfigDict()
  config.task.seg_len = 16           # tokens per segment
  config.task.num_segments = 3       # segments per example; the pairs sit in the first
  config.task.num_pairs = 1          # key/value pairs to remember (1: a plain long-range copy)
  config.task.num_keys = 8           # distinct keys
  config.task.num_values = 8         # distinct values (chance accuracy = 1 / num_values)
  config.task.num_noise = 16         # distinct noise tokens
  config.task.train_gap = "longest"  # longest: pairs open the first segment, as evaluated;
                                     # mixed: a random earlier segment (training only)

  config.model = ml_collections.ConfigDict()
  config.model.name = "transformer_xl"  # transformer_xl | compressive | vanilla
  config.model.d_model = 64          # model width
  config.model.num_layers = 2        # N layers
  config.model.num_heads = 4         # H heads
  config.model.d_ff = 128            # feed-forward width
  config.model.mem_len = 32          # memory of two segments: reaches the first from the third
  config.model.clamp_len = -1        # no distance clamping
  config.model.same_length = False   # causal masks as in training

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32       # fresh examples per step
  config.train.num_steps = 600       # updates
  config.train.optimizer = "adam"    # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 2e-3  # peak learning rate
  config.train.schedule = "constant" # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 100    # linear warm-up (warmup_cosine only)
  config.train.grad_clip_norm = 1.0  # global-norm clipping
  config.train.log_every = 50        # progress line + TensorBoard scalars
  config.train.eval_every = 200      # recall accuracy on a fixed eval batch
  config.train.checkpoint_every = 0  # only at the end
  config.train.keep_checkpoints = 1  # newest checkpoints kept
  config.train.max_consecutive_nonfinite = 10  # NaN/Inf steps are skipped; this many in a row stop the run
  config.train.debug_nonfinite_steps = ()      # test hook: steps whose loss is forced to NaN
  config.train.stop_at_step = 0      # test hook: stop (as if killed) after this step (0: off)

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0    # data-parallel devices (0: all); train.batch_size must divide evenly

  config.eval = ml_collections.ConfigDict()
  config.eval.mem_len = -1           # evaluation memory (-1: model.mem_len)
  config.eval.batch_size = 1000      # eval examples
  return config


# XL's model fields that a segment model without XL's cache shares: its sizes.
_SHARED_SIZES = ("d_model", "num_layers", "num_heads", "d_ff", "clamp_len")


def local_memory_config(name: str) -> ml_collections.ConfigDict:
  """This config for a segment model whose memory is not XL's cache (`model.name` one of
  infini_attention | rmt | memorizing_transformer): XL's sizes, no XL memory, the far task
  (`far_task`: the answer >= 4 segments back); the caller adds the model's own fields."""
  config = get_config("long")
  sizes = {field: config.model[field] for field in _SHARED_SIZES}
  config.model = ml_collections.ConfigDict({"name": name, **sizes})
  config.eval.mem_len = -1           # no cache of hidden states
  return config

