"""NTM on the DNC paper's graph traversal task (`memjax.knowledge.graph_tasks.TraversalTask`).

Random graphs of `task.num_nodes` nodes, each with `task.out_degree` labelled
out-edges, arrive one triple per step; the query names a start node and a
relation path of 1..`task.max_path` relations; the core must emit the path's
triples. Reported: fraction of questions answered exactly, beside the DNC paper's figure
on the London Underground, a larger graph than these (docs/results.md).

Run:
    python experiments/train.py --config=configs/graph_traversal_ntm.py --workdir=/tmp/graph_traversal_ntm
Other cores, same task and schedule (the suffix picks the `model` block):
    python experiments/train.py --config=configs/graph_traversal_ntm.py:lstm --workdir=/tmp/gt_lstm
    python experiments/train.py --config=configs/graph_traversal_ntm.py:dnc --workdir=/tmp/gt_dnc
    python experiments/train.py --config=configs/graph_traversal_ntm.py:kv_memory --workdir=/tmp/gt_kv
Smoke size:
    python experiments/train.py --config=configs/graph_traversal_ntm.py --workdir=/tmp/gt_smoke \
      --config.train.num_steps=20 --config.train.eval_every=10 --config.train.eval_batch_size=64
"""
import ml_collections

from memjax import config_helpers as common

MODELS = ("ntm", "lstm", "dnc", "kv_memory")  # the argument: the first is the default


def model_config(core: str) -> ml_collections.ConfigDict:
  """The `model` block for `core` (shared by the graph-task configs)."""
  model = ml_collections.ConfigDict()
  model.name = core                   # any registered core: ntm | dnc | lstm | gru, or kv_memory
  if core == "ntm":
    model.controller = "lstm"         # lstm | feedforward
    model.controller_size = 128       # controller hidden units
    model.memory_size = 32            # N memory slots (>= number of edges)
    model.word_size = 32              # M, width of a slot (holds a triple's one-hots)
    model.num_read_heads = 2
    model.num_write_heads = 1
    model.shift_range = 1             # heads move -1, 0 or +1 slots per step
    model.memory_init = "constant"    # constant | learned | random
    model.clip_value = 20.0           # controller outputs clipped to +-clip_value (0: off)
  elif core == "dnc":
    model.controller_size = 128       # LSTM controller hidden units
    model.memory_size = 32            # N memory slots (>= number of edges)
    model.word_size = 32              # W, width of a slot
    model.num_read_heads = 2          # R read heads
    model.num_write_heads = 1
    model.clip_value = 20.0           # controller outputs clipped to +-clip_value (0: off)
  elif core == "lstm":
    model.hidden_size = 256           # LSTM units (no external memory)
  elif core == "kv_memory":
    # Not a recurrent core: memjax.knowledge.graph_kv_memory, the graph's triples as slots.
    model.embed_dim = 64              # d, width of keys, values and queries
    model.num_hops = 3                # H attention hops (>= answer steps with answer_from="hop")
    model.answer_from = "hop"         # hop: answer j reads hop j | gated: query-gated hop mixture
    model.embed_stddev = 0.1          # initial embedding scale
  return model


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """`arg`: the model, one of MODELS (default ntm)."""
  core = common.parse_arg(arg, __file__, renamed={"kvmemory": "kv_memory"}, model=MODELS).model
  config = ml_collections.ConfigDict()
  config.experiment = "graph"         # memjax.training.families.graph
  config.seed = 0                     # PRNG seed for parameters and data

  config.task = ml_collections.ConfigDict()
  config.task.name = "graph_traversal"  # graph_traversal | graph_shortest_path | graph_inference
  config.task.num_labels = 10         # N: node label space (one-hot width), >= num_nodes
  config.task.num_nodes = 8           # nodes per random graph
  config.task.out_degree = 2          # labelled out-edges per node (distinct relations)
  config.task.relations = 4           # R relation labels
  config.task.min_path = 1            # shortest relation path asked
  config.task.max_path = 3            # longest relation path asked (fixes the padded length)

  config.model = model_config(core)

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32
  config.train.num_steps = 4000
  config.train.optimizer = "adam"     # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 1e-3
  config.train.schedule = "constant"  # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 0       # for warmup_cosine
  config.train.grad_clip_norm = 10.0  # global-norm clipping (0: off)
  config.train.log_every = 100        # progress line + TensorBoard scalars
  config.train.eval_every = 1000      # accuracy on eval_batch_size // 4 fresh graphs
  config.train.eval_batch_size = 1000  # fresh graphs in the final evaluation
  config.train.checkpoint_every = 1000  # orbax checkpoint period (0: only at the end)
  config.train.keep_checkpoints = 2   # newest checkpoints kept

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0     # data-parallel devices (0: all); train.batch_size must divide evenly
  return config
