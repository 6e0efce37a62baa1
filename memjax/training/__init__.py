"""Training: the loop on top of cores and tasks.

- `trainer.py`     `train_and_evaluate(config, workdir)` for the algorithmic tasks
- `optim.py`       optax optimizer + schedule from `config.train`
- `checkpoint.py`  orbax checkpoints with fallback past corrupt ones
- `metrics.py`     TensorBoard events, log.txt, results.json
- `errors.py`      `ConfigError`, reported as one line by the launchers
"""
