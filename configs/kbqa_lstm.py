"""LSTM baseline (no memory) on the synthetic film-graph KB-QA task of `configs/kbqa_kv_memory.py`.

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
import ml_collections

from configs import kbqa_kv_memory


def get_config() -> ml_collections.ConfigDict:
  config = kbqa_kv_memory.get_config()         # same task, key hashing and training schedule
  config.model = ml_collections.ConfigDict()
  config.model.name = "lstm"          # kv_memory | lstm
  config.model.embed_dim = 64         # word and entity token embeddings
  config.model.hidden_size = 256      # LSTM units
  return config
