"""NTM on the DNC paper's shortest-path task (`memjax.knowledge.graph_tasks.ShortestPathTask`).

Same random graphs as `configs/graph_traversal_ntm.py`; the query is one step
(source, -, target) and the core must emit the unique shortest path's
triples. Reported: fraction of questions answered exactly, beside the DNC paper's figure
on the London Underground (docs/results.md).

Run:
    python experiments/train.py --config=configs/graph_shortest_path_ntm.py --workdir=/tmp/gsp_ntm
    (suffix :lstm, :dnc or :kv_memory for the other models, as in graph_traversal_ntm.py)
Smoke size:
    python experiments/train.py --config=configs/graph_shortest_path_ntm.py --workdir=/tmp/gsp_smoke \
      --config.train.num_steps=20 --config.train.eval_every=10 --config.train.eval_batch_size=64
"""
import ml_collections

from configs import graph_traversal_ntm


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  config = graph_traversal_ntm.get_config(arg)  # same graphs, model blocks and schedule
  config.task.name = "graph_shortest_path"
  config.task.min_path = 1            # shortest paths of this length or more are asked
  config.task.max_path = 3            # longest shortest path asked (fixes the padded length)
  return config
