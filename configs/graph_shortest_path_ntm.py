"""NTM on the DNC paper's shortest-path task (`memjax.knowledge.graph_tasks.ShortestPathTask`).

Same random graphs as `configs/graph_traversal_ntm.py`; the query is one step
(source, -, target) and the core must emit the unique shortest path's
triples. Reported: fraction of questions answered exactly (DNC paper: 55.3% on
the London Underground).

Run:
    python experiments/train.py --config=configs/graph_shortest_path_ntm.py --workdir=/tmp/gsp_ntm
    (suffix :lstm, :dnc or :kvmemory for the other models, as in graph_traversal_ntm.py)
Smoke size:
    python experiments/train.py --config=configs/graph_shortest_path_ntm.py --workdir=/tmp/gsp_smoke \
      --config.train.num_steps=20 --config.train.eval_every=10 --config.train.eval_batch_size=64
"""
import importlib.util
import pathlib

import ml_collections


def _traversal_config(core: str) -> ml_collections.ConfigDict:
  path = pathlib.Path(__file__).with_name("graph_traversal_ntm.py")
  spec = importlib.util.spec_from_file_location("graph_traversal_ntm", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(core)


def get_config(core: str = "ntm") -> ml_collections.ConfigDict:
  config = _traversal_config(core or "ntm")  # same graphs, model blocks and schedule
  config.task.name = "graph_shortest_path"
  config.task.min_path = 1            # shortest paths of this length or more are asked
  config.task.max_path = 3            # longest shortest path asked (fixes the padded length)
  return config
