"""DNC on bAbI, joint training on all 20 tasks, word by word (Graves et al. 2016, Methods).

Each story is fed one one-hot word per step ("." ends a statement, "?" a
question, "-" marks each answer word's step); the loss is on answer steps
only; a question is wrong if any answer word is. Defaults are the paper's:
LSTM controller 256, memory 256 x 64, 4 read heads, 1 write head, RMSProp
lr 1e-4 momentum 0.9, batch 16, en-10k. A task fails above 5% error; the paper's
figures and ours: docs/results.md.

Run (family: memjax.training.families.babi_recurrent):
    python experiments/train.py --config=configs/babi_dnc.py --workdir=/tmp/babi_dnc        # en-10k
    python experiments/train.py --config=configs/babi_dnc.py:1k --workdir=/tmp/babi_dnc_1k  # en (1k)
Other cores, same data and schedule (the argument is "[1k|10k][,dnc|ntm|lstm]", any order):
    python experiments/train.py --config=configs/babi_dnc.py:lstm --workdir=/tmp/babi_lstm
    python experiments/train.py --config=configs/babi_dnc.py:1k,ntm --workdir=/tmp/babi_ntm_1k
Smoke size (a minute on one CPU core):
    python experiments/train.py --config=configs/babi_dnc.py:1k --workdir=/tmp/babi_dnc_smoke \
      --config.data.tasks=1,4 --config.model.controller_size=32 --config.model.memory_size=16 \
      --config.model.word_size=8 --config.model.num_read_heads=1 --config.train.num_steps=20 \
      --config.train.log_every=10 --config.train.eval_every=20 --config.train.learning_rate=1e-3
"""
import ml_collections

from memjax import config_helpers as common
from memjax.data.babi import default_babi_dir

CORES = ("dnc", "ntm", "lstm")
SETTINGS = {"1k": "en", "10k": "en-10k"}


def model_config(core: str) -> ml_collections.ConfigDict:
  """The `model` block for `core`, at the DNC paper's bAbI sizes."""
  model = ml_collections.ConfigDict()
  model.name = core                   # any registered core: dnc | ntm | lstm | gru
  if core == "dnc":
    model.controller_size = 256       # LSTM controller hidden units (paper: 256)
    model.memory_size = 256           # N memory slots (paper: 256)
    model.word_size = 64              # W, width of a slot (paper: 64)
    model.num_read_heads = 4          # R read heads (paper: 4)
    model.num_write_heads = 1         # write heads (paper: 1)
    model.clip_value = 20.0           # controller outputs and logits clipped to +-20 (0: off)
  elif core == "ntm":
    model.controller = "lstm"         # lstm | feedforward
    model.controller_size = 256       # controller hidden units (as the DNC's)
    model.memory_size = 256           # N memory slots (as the DNC's)
    model.word_size = 64              # M, width of a slot (as the DNC's)
    model.num_read_heads = 4          # read heads (as the DNC's)
    model.num_write_heads = 1         # write heads
    model.shift_range = 1             # heads move -1, 0 or +1 slots per step
    model.memory_init = "constant"    # constant | learned | random
    model.clip_value = 20.0           # controller outputs clipped to +-clip_value (0: off)
  elif core == "lstm":
    model.hidden_size = 256           # LSTM units, no external memory (as the DNC's controller)
  return model


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg` = "[1k|10k][,dnc|ntm|lstm]" (defaults 10k, dnc)."""
  options = common.parse_arg(arg, __file__, size=("10k", "1k"), core=CORES)
  size, core = options.size, options.core
  config = ml_collections.ConfigDict()
  config.experiment = "babi_recurrent"  # memjax.training.families.babi_recurrent
  config.label = f"{core.upper()} joint {size}"  # name of the run in results.json
  config.seed = 0                     # PRNG seed for parameters and batches
  config.num_seeds = 1                # models trained at once (vmap); best by validation reported
  config.machine = "2-core CPU"       # where the run happened, copied into results.json

  config.data = ml_collections.ConfigDict()
  config.data.babi_dir = default_babi_dir()  # folder with en/ and en-10k/ (v1.2 text files)
  config.data.setting = SETTINGS[size]  # en (1k questions per task) | en-10k
  config.data.tasks = tuple(range(1, 21))  # bAbI tasks, trained jointly
  config.data.skip_missing = size == "10k"  # carry on without tasks lacking files (10k task 3 here)
  config.data.validation_fraction = 0.1  # last 10% of each task's training stories held out
  # files: read the text files | tfds: the same questions through the tensorflow-datasets
  # builder `babi` (memjax/data/babi_tfds.py), prepared once under tfds_data_dir
  config.data.source = "files"
  config.data.tfds_data_dir = ""      # "": $TFDS_DATA_DIR, else ~/tensorflow_datasets
  config.data.max_train_length = 0    # drop training stories longer than this many words (0: keep all)

  config.model = model_config(core)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 16        # stories per step (paper: 16)
  config.train.num_steps = 500_000    # updates (8M stories at batch 16; not a figure from the paper)
  config.train.optimizer = "rmsprop"  # adam | adamw | rmsprop | sgd (rmsprop: momentum 0.9, decay 0.95)
  config.train.learning_rate = 1e-4   # paper: 1e-4
  config.train.schedule = "constant"  # constant | cosine | warmup_cosine | exponential
  config.train.grad_clip_norm = 50.0  # global-norm gradient clipping (DeepMind's dnc code: 50; 0: off)
  # Stories are padded to the smallest of these that holds them (a bucket is added
  # for longer ones); one compilation per bucket.
  config.train.length_buckets = (64, 128, 256, 512, 1024, 1536)
  config.train.scan_unroll = 1        # time steps per lax.scan iteration (>1: faster on CPU, slower compile)
  config.train.remat = False          # recompute steps in the backward pass (saves memory on long stories)
  config.train.log_every = 100        # progress line + TensorBoard scalars
  config.train.eval_every = 10_000    # per-task validation error
  config.train.eval_batch_size = 64   # stories per evaluation call
  config.train.checkpoint_every = 5_000  # orbax checkpoint period (0: only at the end)
  config.train.keep_checkpoints = 2   # newest checkpoints kept
  config.train.stop_at_step = 0       # stop here and evaluate (0: off); may change on resume

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0     # data-parallel devices (0: all); train.batch_size must divide evenly
  return config
