"""LSTM baseline (no memory) on the synthetic film-graph KB-QA task of `configs/kbqa_kvmemory.py`.

The LSTM reads the question (the linked entity as one token) and scores every
entity; it can only answer from facts its weights memorised from training
questions.

Run:
    python experiments/train.py --config=configs/kbqa_lstm.py --workdir=/tmp/kbqa_lstm
Smoke size:
    python experiments/train.py --config=configs/kbqa_lstm.py --workdir=/tmp/kbqa_lstm_smoke \
      --config.task.num_films=60 --config.task.num_people=50 --config.task.num_directors=10 \
      --config.task.num_cities=10 --config.task.num_countries=4 --config.task.questions_per_hop=200 \
      --config.train.num_steps=20 --config.train.eval_every=10
"""
import importlib.util
import pathlib

import ml_collections


def _kvmemory_config() -> ml_collections.ConfigDict:
  path = pathlib.Path(__file__).with_name("kbqa_kvmemory.py")
  spec = importlib.util.spec_from_file_location("kbqa_kvmemory", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config() -> ml_collections.ConfigDict:
  config = _kvmemory_config()         # same task, key hashing and training schedule
  config.model = ml_collections.ConfigDict()
  config.model.name = "lstm"          # kv_memory | lstm
  config.model.embed_dim = 64         # word and entity token embeddings
  config.model.hidden_size = 256      # LSTM units
  return config
