"""End-to-end memory network on bAbI (Sukhbaatar et al. 2015), joint 1k, PE + LS + RN, 3 hops.

Run (10 seeds at once, best by validation):
    python experiments/train.py --config=configs/babi_memn2n.py --workdir=/tmp/babi_memn2n
The defaults follow the authors' MATLAB code where it differs from the paper's text
(centred position encoding with one J, null attention over empty slots, lr 0.005 with
linear start, their decay rule); docs/results.md measures each, with the results.
Ablation rows of the paper, via the config argument (bow | pe | pe_ls | pe_ls_rn | pe_ls_lw):
    python experiments/train.py --config=configs/babi_memn2n.py:bow --workdir=/tmp/babi_bow
Per-task training (d = 20, 100 epochs, halving every 25):
    python experiments/train.py --config=configs/babi_memn2n.py:pe_ls_rn,per_task \
      --workdir=/tmp/babi_pt
10k joint (task 3 has no training file here):
    python experiments/train.py --config=configs/babi_memn2n.py:pe_ls_rn,10k --workdir=/tmp/babi_10k
Smoke size (seconds):
    python experiments/train.py --config=configs/babi_memn2n.py --workdir=/tmp/smoke \
      --config.data.tasks=1, --config.num_seeds=2 --config.train.num_epochs=2 \
      --config.train.ls_epochs=1
"""
import ml_collections

from memjax import config_helpers as common
from memjax.data.babi import default_babi_dir

VARIANTS = ("pe_ls_rn", "bow", "pe", "pe_ls", "pe_ls_lw")  # the first is the default
_LABELS = {"bow": "BoW", "pe": "PE", "pe_ls": "PE+LS", "pe_ls_rn": "PE+LS+RN",
           "pe_ls_lw": "PE+LS+LW"}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg` = "[<variant>][,per_task][,10k]" with variant in VARIANTS (default pe_ls_rn)."""
  options = common.parse_arg(arg, __file__, variant=VARIANTS, mode=("joint", "per_task"),
                             size=("1k", "10k"))
  variant, per_task, ten_k = options.variant, options.mode == "per_task", options.size == "10k"

  config = ml_collections.ConfigDict()
  config.experiment = "babi_memnn"    # memjax.training.families.babi_memnn
  config.label = _LABELS[variant]     # row name in the results table
  config.seed = 0                     # PRNG seed (per-task runs add the task number)
  config.num_seeds = 10               # models trained at once (vmap); best by validation reported
  config.machine = "2-core CPU"       # where the run happened, copied into results.json

  config.data = ml_collections.ConfigDict()
  config.data.babi_dir = default_babi_dir()  # folder with en/ and en-10k/ (v1.2 text files)
  config.data.setting = "en-10k" if ten_k else "en"  # en (1k questions per task) | en-10k
  config.data.tasks = tuple(range(1, 21))  # bAbI tasks to train and test on
  config.data.skip_missing = ten_k    # carry on without tasks whose files are missing (10k task 3)
  config.data.mode = "per_task" if per_task else "joint"  # joint: one model for all tasks
  config.data.memory_size = 50        # most recent statements kept as memory
  # Authors' config.sz = min(50, longest training story): per task, a memory only as long as
  # the task's stories (task 4: 2 slots), so null attention adds that many empty slots, not 50.
  config.data.fit_memory_to_stories = True
  config.data.validation_fraction = 0.1  # last 10% of each task's training questions
  # files: read the text files | tfds: the same questions through the tensorflow-datasets
  # builder `babi` (memjax/data/babi_tfds.py), prepared once under tfds_data_dir
  config.data.source = "files"
  config.data.tfds_data_dir = ""      # "": $TFDS_DATA_DIR, else ~/tensorflow_datasets

  config.model = ml_collections.ConfigDict()
  config.model.name = "memn2n"        # memn2n | kv_memnn
  config.model.embedding_dim = 20 if per_task else 50  # d (paper: 20 per task, 50 joint)
  config.model.num_hops = 3           # K
  # bow | position (the paper's PE, J = each sentence's length) | position_authors (the
  # MATLAB code's centred PE, one J = longest sentence + 1 time word; scales T(i) too)
  config.model.encoding = "bow" if variant == "bow" else "position_authors"
  config.model.temporal = True        # temporal encoding T_A, T_C
  # Authors' code: empty memory slots (zero vectors, score 0) stay in each hop's softmax,
  # so a hop can attend to nothing (False: softmax over the statements only, as the paper reads).
  config.model.null_attention = True
  config.model.tying = "layerwise" if variant == "pe_ls_lw" else "adjacent"  # adjacent | layerwise
  config.model.init_std = 0.1         # weights ~ N(0, 0.1^2)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32        # questions per SGD step; the loss is summed over them
  config.train.num_epochs = 100 if per_task else 60  # epochs with the softmax (after LS)
  # plain SGD; the authors' code uses 0.01 / 2 throughout when linear start is on
  config.train.learning_rate = 0.005 if variant in ("pe_ls", "pe_ls_rn", "pe_ls_lw") else 0.01
  config.train.decay_every = 25 if per_task else 15  # halve the learning rate every this many
  # every: after each decay_every epochs | authors: their code's (epoch + 1) % decay_every == 0
  config.train.decay_rule = "authors"
  config.train.linear_start = variant in ("pe_ls", "pe_ls_rn", "pe_ls_lw")  # LS phase first
  config.train.ls_epochs = 20 if per_task else 30  # epochs without softmax (authors' code)
  config.train.ls_learning_rate = 0.005  # LS learning rate (paper sec. 4.2)
  config.train.ls_decay_every = 31    # LS halving period (authors' code: none within LS)
  # RN: at most this share of empty memories inserted in training (0: off).
  config.train.random_noise = 0.1 if variant in ("pe_ls_rn", "pe_ls_lw") else 0.0
  # Batches are drawn per memory-length bucket; speed only, the outputs are exact.
  config.train.memory_buckets = (6, 12, 24)
  config.train.max_grad_norm = 40.0   # per-matrix gradient norm clipping
  config.train.log_every = 5          # epochs between progress lines
  config.train.eval_every = 5         # epochs between validation reports
  config.train.checkpoint_every = 10  # epochs between checkpoints (0: only at the end)
  config.train.keep_checkpoints = 2   # newest checkpoints kept
  # Stop after this many epochs and evaluate (0: off); may change when resuming a workdir.
  config.train.stop_at_step = 0

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0     # devices the seeds are split over (0: all)
  if ten_k:
    config.train.log_every = 1
    config.train.eval_every = 1
    config.train.checkpoint_every = 1
  return config
