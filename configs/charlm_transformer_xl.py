"""Transformer-XL character-level LM on tiny Shakespeare (Dai et al. 2019), CPU-sized.

Run:
    python experiments/train.py --config=configs/charlm_transformer_xl.py --workdir=/tmp/charlm_xl
Any text file (enwik8 as bytes):
    python experiments/train.py --config=configs/charlm_transformer_xl.py --workdir=/tmp/enwik8_xl \
      --config.data.path=/data/enwik8 --config.data.level=byte
Smoke size (seconds):
    python experiments/train.py --config=configs/charlm_transformer_xl.py --workdir=/tmp/smoke \
      --config.train.num_steps=5 --config.train.warmup_steps=1 --config.model.num_layers=1 --config.eval.max_segments=2
"""
import os

import ml_collections

from memjax import config_helpers as common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "char_lm"      # memjax.training.families.language_model
  config.seed = 0                    # PRNG seed for parameters

  config.data = ml_collections.ConfigDict()
  config.data.path = os.path.join(common.data_dir(), "tinyshakespeare", "input.txt")  # any text file
  config.data.level = "char"         # char (distinct UTF-8 characters) | byte (256 ids, enwik8)
  config.data.valid_fraction = 0.1   # the file's last 10% validates (nanoGPT's split)

  config.model = ml_collections.ConfigDict()
  config.model.name = "transformer_xl"  # transformer_xl | compressive | vanilla, or any core (configs/charlm_core.py)
  config.model.d_model = 128         # model width
  config.model.num_layers = 3        # N layers
  config.model.num_heads = 4         # H heads, head_dim = d_model / H
  config.model.d_ff = 512            # feed-forward width
  config.model.mem_len = 32          # per-layer memory of past hidden states (0 = vanilla)
  config.model.clamp_len = 64        # distances beyond this share an encoding (-1: no clamp); 64 =
                                     # the longest seen in training, for a longer eval memory
  config.model.same_length = False   # every query sees the same number of keys
  config.model.dropout = 0.0         # training dropout rate (the released enwik8 base model: 0.1)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16       # contiguous streams the training text is cut into
  config.train.seg_len = 32          # tokens per segment
  config.train.segments_per_step = 1 # consecutive segments per step, the carry threaded through
                                     # them with gradient (truncated BPTT over k segments)
  config.train.carry_reset_probability = 0.0  # chance a row's memory restarts at a segment
  config.train.num_steps = 2000      # updates
  config.train.optimizer = "adam"    # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 1e-3  # peak learning rate
  config.train.schedule = "warmup_cosine"  # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 100    # linear warm-up for warmup_cosine
  config.train.grad_clip_norm = 0.25 # global-norm clipping, the released code's value
  config.train.log_every = 100       # progress line + TensorBoard scalars
  config.train.eval_every = 500      # validation bits per character
  config.train.checkpoint_every = 500  # orbax checkpoint period (0: only at the end)
  config.train.keep_checkpoints = 2  # newest checkpoints kept
  config.train.max_consecutive_nonfinite = 10  # NaN/Inf steps are skipped; this many in a row stop the run
  config.train.debug_nonfinite_steps = ()      # test hook: steps whose loss is forced to NaN
  config.train.stop_at_step = 0      # test hook: stop (as if killed) after this step (0: off)

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0    # data-parallel devices (0: all); train.batch_size must divide evenly

  config.eval = ml_collections.ConfigDict()
  config.eval.mem_len = 64           # evaluation memory (may exceed the training mem_len)
  config.eval.seg_len = 32           # evaluation segment length
  config.eval.batch_size = 16        # validation streams
  config.eval.max_segments = 0       # validate on this many segments per stream (0: all)
  config.eval.cached = True          # evaluate with cached key/value projections (fast_eval.py)
  config.eval.compare_mem_lens = ()  # after training, also report bpc with these memories
  config.eval.sample_length = 200    # after training, sample this many characters (0: none)
  config.eval.sample_prompt_length = 64  # ... after the first 64 validation characters
  config.eval.sample_temperature = 0.8   # softmax temperature (0: greedy)
  return config
