"""Training: one loop on top of cores, models, tasks and data, and the families it trains.

- `loop.py`        `train_and_evaluate(config, workdir)`: the one loop, for every family
- `family.py`      the family protocol (`Family`, `TrainState`) and helpers families share
- `families/`      algorithmic, char-LM and long-range, KB-QA, graph tasks, bAbI (two kinds)
- `registry.py`    `config.experiment` -> family; `register_family` for your own
- `progress.py`    periodic actions, progress lines, the loop record, the NaN/Inf watch
- `workdir.py`     config.json, the check that a relaunch continues the same run
- `checkpoint.py`  orbax checkpoints with checksums and fallback past corrupt ones
- `optim.py`       optax optimizer + schedule from `config.train`
- `parallel.py`    the device mesh and data-parallel placement
- `metrics.py`     TensorBoard events, log.txt, results.json
- `errors.py`      `ConfigError` and the checks that name a bad key, one line each
- `launch.py`      launcher helpers: one-line errors, `--import`, the final summary
"""
