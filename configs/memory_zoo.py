"""The memory zoo: every memory on the same two tasks (benchmarks/memory_zoo.py).

- MQAR (Arora et al. 2023; memjax/tasks/mqar.py): P key/value pairs, then all P keys
  queried at the end of the sequence; accuracy over the queries, against the memory's
  state size (the floats one sequence carries between segments).
- Facts in a haystack (after BABILong, Kuratov et al. 2024; memjax/data/haystack.py): a
  bAbI story scattered through Shakespeare, trained at `train_length` words and tested at
  each of `eval_lengths`.

Each model comes in several sizes (`MODELS`), each size a point on the state-size axis.
A cell is one (task, model, size, seed); its training config is this file with the argument
`cell/<grid>/<task>/<model>/<size>/<seed>`, so any cell reruns by hand:
    python experiments/train.py \
      --config=configs/memory_zoo.py:cell/small/mqar_p16/ntm/m64x32/0 --workdir=/tmp/cell

The grids (argument `small`, the default, or `full`):
    python benchmarks/memory_zoo.py --config=configs/memory_zoo.py --workdir=/tmp/zoo
    python benchmarks/memory_zoo.py --config=configs/memory_zoo.py:full --workdir=/tmp/zoo_full
The small grid is sized for a 2-core CPU in under an hour; the full grid (every model,
pairs up to 256, haystacks up to 64k words, bAbI tasks 1-3) is meant for a GPU.
"""
import ml_collections

# Model blocks at the language-model families' contract (memjax/models/language_models.py):
# a base block and its sizes, each a few fields that set the state size.
_XL_SIZES = dict(d_model=64, num_layers=2, num_heads=4, d_ff=128, clamp_len=-1)
MODELS = {
    "lstm": ({"name": "lstm"},
             {f"h{h}": {"hidden_size": h} for h in (32, 64, 128, 256)}),
    "gru": ({"name": "gru"},
            {f"h{h}": {"hidden_size": h} for h in (32, 64, 128, 256)}),
    "ntm": ({"name": "ntm", "controller": "lstm", "controller_size": 64, "num_read_heads": 1,
             "num_write_heads": 1, "shift_range": 1, "memory_init": "constant",
             "clip_value": 20.0},
            {f"m{n}x{w}": {"memory_size": n, "word_size": w}
             for n, w in ((16, 16), (32, 32), (64, 32), (128, 32))}),
    "dnc": ({"name": "dnc", "controller_size": 64, "num_read_heads": 2, "num_write_heads": 1,
             "clip_value": 20.0},
            {f"m{n}x{w}": {"memory_size": n, "word_size": w}
             for n, w in ((16, 16), (32, 32), (64, 32), (128, 32))}),
    "linear_attention": ({"name": "linear_attention", "num_layers": 2, "num_heads": 4},
                         {f"d{d}": {"d_model": d, "d_ff": 2 * d} for d in (32, 64, 128, 256)}),
    "delta_rule": ({"name": "delta_rule", "num_layers": 2, "num_heads": 4},
                   {f"d{d}": {"d_model": d, "d_ff": 2 * d} for d in (32, 64, 128, 256)}),
    "vanilla": ({"name": "vanilla", **_XL_SIZES, "same_length": False},
                {"window": {"mem_len": 0}}),
    "transformer_xl": ({"name": "transformer_xl", **_XL_SIZES, "same_length": False},
                       {f"mem{m}": {"mem_len": m} for m in (16, 32, 64, 128)}),
    "compressive": ({"name": "compressive", **_XL_SIZES, "same_length": False,
                     "compression_rate": 4, "compression_function": "conv"},
                    {f"mem{m}c{m}": {"mem_len": m, "compressed_mem_len": m}
                     for m in (16, 32, 64)}),
    "infini_attention": ({"name": "infini_attention", **_XL_SIZES, "update_rule": "delta"},
                         {f"d{d}": {"d_model": d, "d_ff": 2 * d} for d in (32, 64, 128)}),
    "rmt": ({"name": "rmt", **_XL_SIZES},
            {f"tok{m}": {"num_memory_tokens": m} for m in (4, 8, 16, 32)}),
    "memorizing_transformer": ({"name": "memorizing_transformer", **_XL_SIZES,
                                "num_neighbours": 32},
                               {f"knn{m}": {"memory_size": m} for m in (64, 256, 1024)}),
}
SEGMENT_MODELS = ("vanilla", "transformer_xl", "compressive", "infini_attention", "rmt",
                  "memorizing_transformer")

_GRIDS = {
    "small": dict(
        seeds=(0, 1, 2),
        models=("lstm", "ntm", "delta_rule", "transformer_xl"),
        sizes=dict(lstm=("h64",), ntm=("m16x16", "m64x32"), delta_rule=("d32", "d64"),
                   transformer_xl=("mem16", "mem64")),
        # At 64 pairs (4x the tokens of 16) only each model's largest state: the CPU budget.
        mqar_pairs=(4, 16, 64), mqar_largest_only=(64,), mqar_steps=400,
        haystack_tasks=(1,), haystack_sizes=dict(lstm="h64", ntm="m16x16",
                                                 delta_rule="d32", transformer_xl="mem64"),
        haystack_train_length=256, haystack_eval_lengths=(1024, 4096), haystack_steps=300,
        parallel_cells=2),
    "full": dict(
        seeds=(0, 1, 2),
        models=tuple(MODELS),
        sizes={name: tuple(sizes) for name, (_, sizes) in MODELS.items()},
        mqar_pairs=(4, 16, 64, 128, 256), mqar_largest_only=(), mqar_steps=4000,
        haystack_tasks=(1, 2, 3),
        haystack_sizes={name: tuple(sizes)[-1] for name, (_, sizes) in MODELS.items()},
        haystack_train_length=1024, haystack_eval_lengths=(1024, 4096, 16384, 65536),
        haystack_steps=4000, parallel_cells=1),
}


def mqar_task(num_pairs: int) -> ml_collections.ConfigDict:
  """MQAR with `num_pairs` pairs: 16-token segments, at least 64 tokens (4 per pair), as
  many keys as pairs (at least 16) and 16 values (chance 1/16)."""
  seg_len = 16
  length = max(64, 4 * num_pairs)
  return ml_collections.ConfigDict(dict(
      seg_len=seg_len, num_segments=-(-length // seg_len), num_pairs=num_pairs, min_pairs=0,
      num_keys=max(16, num_pairs), num_values=16))


def model_block(model: str, size: str) -> ml_collections.ConfigDict:
  if model not in MODELS:
    raise ValueError(f"memory_zoo: model {model!r} is not one of {sorted(MODELS)}")
  base, sizes = MODELS[model]
  if size not in sizes:
    raise ValueError(f"memory_zoo: size {size!r} of {model} is not one of {sorted(sizes)}")
  return ml_collections.ConfigDict({**base, **sizes[size]})


def cell_config(grid: str, task: str, model: str, size: str, seed: int
                ) -> ml_collections.ConfigDict:
  """The training config of one cell (`task`: mqar_p<P> or haystack_qa<k>)."""
  if grid not in _GRIDS:
    raise ValueError(f"memory_zoo: grid {grid!r} is not one of {sorted(_GRIDS)}")
  settings = _GRIDS[grid]
  config = ml_collections.ConfigDict()
  config.seed = int(seed)
  config.model = model_block(model, size)
  if task.startswith("mqar_p"):
    config.experiment = "mqar"
    config.task = mqar_task(int(task[len("mqar_p"):]))
    num_steps = settings["mqar_steps"]
    eval_block = dict(batch_size=256, mem_len=-1)
  elif task.startswith("haystack_qa"):
    config.experiment = "haystack"
    config.task = ml_collections.ConfigDict(dict(
        babi_task=int(task[len("haystack_qa"):]), seg_len=64,
        train_length=settings["haystack_train_length"], num_train_examples=4000))
    config.data = ml_collections.ConfigDict(dict(babi_dir="", text_path="", setting="en",
                                                 num_text_words=500, vocab_tasks=(1, 2, 3)))
    num_steps = settings["haystack_steps"]
    eval_block = dict(batch_size=25, mem_len=-1, num_examples=200, data_seed=1234,
                      lengths=tuple(settings["haystack_eval_lengths"]))
  else:
    raise ValueError(f"memory_zoo: task {task!r} is neither mqar_p<P> nor haystack_qa<k>")
  config.train = ml_collections.ConfigDict(dict(
      batch_size=32, num_steps=num_steps, optimizer="adam", learning_rate=3e-3,
      schedule="warmup_cosine", warmup_steps=min(100, num_steps // 10), grad_clip_norm=1.0,
      log_every=100, eval_every=num_steps, checkpoint_every=max(1, num_steps // 2),
      keep_checkpoints=1, max_consecutive_nonfinite=10, debug_nonfinite_steps=(),
      stop_at_step=0))
  config.parallel = ml_collections.ConfigDict(dict(num_devices=0))
  config.eval = ml_collections.ConfigDict(eval_block)
  return config


def get_config(arg: str = "small") -> ml_collections.ConfigDict:
  """The grid `arg` (small | full), or one cell's training config (`cell/...`)."""
  arg = (arg or "small").strip()
  if arg.startswith("cell/"):
    parts = arg.split("/")[1:]
    if len(parts) != 5:
      raise ValueError(f"--config=configs/memory_zoo.py:{arg}: a cell is "
                       "cell/<grid>/<task>/<model>/<size>/<seed>")
    return cell_config(*parts[:4], int(parts[4]))
  if arg not in _GRIDS:
    raise ValueError(f"--config=configs/memory_zoo.py:{arg}: the grid is one of "
                     f"{sorted(_GRIDS)} (or cell/<grid>/<task>/<model>/<size>/<seed>)")
  settings = _GRIDS[arg]
  config = ml_collections.ConfigDict()
  config.grid = arg
  config.seeds = tuple(settings["seeds"])
  config.models = tuple(settings["models"])
  config.sizes = ml_collections.ConfigDict({m: tuple(s) for m, s in settings["sizes"].items()
                                            if m in settings["models"]})
  config.mqar_pairs = tuple(settings["mqar_pairs"])
  config.mqar_largest_only = tuple(settings["mqar_largest_only"])  # pair counts: largest size
  config.haystack_tasks = tuple(settings["haystack_tasks"])
  config.haystack_sizes = ml_collections.ConfigDict(
      {m: s for m, s in settings["haystack_sizes"].items() if m in settings["models"]})
  config.parallel_cells = settings["parallel_cells"]  # cells trained at once (one CPU core each)
  return config
