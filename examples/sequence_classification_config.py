"""Sequence classification (examples/sequence_classification.py): the first of 10 symbols.

Run:
    python experiments/train.py --import=examples/sequence_classification.py \
        --config=examples/sequence_classification_config.py --workdir=/tmp/seqcls
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.experiment = "sequence_classification"  # registered by examples/sequence_classification.py
  config.seed = 0                     # PRNG seed for parameters and data
  config.num_seeds = 1                # models trained at once (vmap)

  config.task = ml_collections.ConfigDict()
  config.task.length = 10             # symbols per sequence
  config.task.num_symbols = 4         # classes (chance accuracy = 1 / num_symbols)

  config.model = ml_collections.ConfigDict()
  config.model.name = "lstm"          # any registered core: lstm | gru | ntm | dnc | yours
  config.model.hidden_size = 32       # LSTM units

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32
  config.train.num_steps = 300
  config.train.optimizer = "adam"     # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 1e-2
  config.train.log_every = 50         # progress line + TensorBoard scalars
  config.train.eval_every = 100       # accuracy on eval_batch_size fresh sequences
  config.train.eval_batch_size = 500
  config.train.checkpoint_every = 100  # orbax checkpoint period (0: only at the end)
  config.train.keep_checkpoints = 2   # newest checkpoints kept
  return config
