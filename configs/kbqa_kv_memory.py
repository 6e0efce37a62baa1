"""Key-value memory over a synthetic film knowledge graph: 1/2/3-hop KB question answering.

The graph (`memjax.knowledge.synthetic_kbqa`) has ~19,400 triples; questions
are linked to entities, hashed to at most `task.max_candidates` triples within
`task.num_hops` hops, and read by `memjax.knowledge.kv_memory.KeyValueMemory`.
Reports hits@1 per hop count on valid / test / test_heldout (unseen entities).

Run:
    python experiments/train.py --config=configs/kbqa_kv_memory.py --workdir=/tmp/kbqa_kv
Smoke size (well under a minute):
    python experiments/train.py --config=configs/kbqa_kv_memory.py --workdir=/tmp/kbqa_smoke \
      --config.task.num_films=60 --config.task.num_people=50 --config.task.num_directors=10 \
      --config.task.num_cities=10 --config.task.num_countries=4 --config.task.questions_per_hop=200 \
      --config.train.num_steps=20 --config.train.eval_every=10 --config.task.max_candidates=32
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "kbqa"          # memjax.training.families.kbqa
  config.seed = 0                     # PRNG seed for parameters and batch order

  config.task = ml_collections.ConfigDict()
  config.task.name = "synthetic_kbqa"  # the seeded film graph and its templated questions
  config.task.seed = 0                # graph and question generator seed
  config.task.num_films = 1800        # films (8 triples each: director, writer, 2-4 stars, ...)
  config.task.num_people = 1500       # people (born_in, born_in_year)
  config.task.num_directors = 400     # the first people are directors (directed: inverse edges)
  config.task.num_cities = 150        # cities (located_in a country)
  config.task.num_countries = 25      # countries (official_language)
  config.task.first_year = 1940       # years are first_year .. first_year + num_years - 1
  config.task.num_years = 80
  config.task.questions_per_hop = 12000  # questions drawn per hop count before splitting
  config.task.valid_fraction = 0.1    # of the questions not about held-out entities
  config.task.test_fraction = 0.1
  config.task.heldout_fraction = 0.05  # films and people whose questions form test_heldout
  config.task.lowercase_fraction = 0.1  # questions written in lower case (case-insensitive linking)
  config.task.num_hops = 3            # key hashing depth (match model.num_hops)
  config.task.max_candidates = 128    # K: fixed size of each question's candidate triples

  config.model = ml_collections.ConfigDict()
  config.model.name = "kv_memory"     # kv_memory | lstm
  config.model.embed_dim = 64         # d: entity, relation and word embeddings
  config.model.num_hops = 3           # H attention hops with query updates R_h
  config.model.follow_previous_hop = True  # soft key hashing between hops (see kv_memory.py)
  config.model.answer_from = "mixture"  # mixture (gated over hops) | last (Miller et al.)
  config.model.embed_stddev = 0.1     # embedding init scale

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 64
  config.train.num_steps = 3000
  config.train.optimizer = "adam"     # adam | adamw | rmsprop | sgd
  config.train.learning_rate = 3e-3
  config.train.schedule = "cosine"    # constant | cosine | warmup_cosine | exponential
  config.train.warmup_steps = 0       # for warmup_cosine
  config.train.grad_clip_norm = 10.0  # global-norm clipping (0: off)
  config.train.log_every = 100        # progress line + TensorBoard scalars
  config.train.eval_every = 1000      # hits@1 on the valid split
  config.train.checkpoint_every = 1000  # orbax checkpoint period (0: only at the end)
  config.train.keep_checkpoints = 2   # newest checkpoints kept

  config.parallel = ml_collections.ConfigDict()
  config.parallel.num_devices = 0     # data-parallel devices (0: all); train.batch_size must divide evenly
  return config
