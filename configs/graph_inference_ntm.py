"""NTM on the DNC paper's family-tree inference task (`memjax.knowledge.graph_tasks.InferenceTask`).

A random family tree (mother / father / son / daughter / husband / wife
triples) arrives one triple per step; the query is (person, compound
relation), e.g. maternal great uncle, never stated directly; the core must
name the relative. Reported: fraction of questions answered exactly, beside the DNC
paper's figure (docs/results.md).

Run:
    python experiments/train.py --config=configs/graph_inference_ntm.py --workdir=/tmp/ginf_ntm
    (suffix :lstm, :dnc or :kv_memory for the other models, as in graph_traversal_ntm.py)
Smoke size:
    python experiments/train.py --config=configs/graph_inference_ntm.py --workdir=/tmp/ginf_smoke \
      --config.train.num_steps=20 --config.train.eval_every=10 --config.train.eval_batch_size=64
"""
import ml_collections

from configs import graph_traversal_ntm


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  config = graph_traversal_ntm.get_config(arg)  # same model blocks and schedule
  config.task = ml_collections.ConfigDict()
  config.task.name = "graph_inference"
  config.task.num_labels = 16         # N: person label space, >= max_people
  config.task.generations = 4         # depth of each family tree
  config.task.max_children = 2        # children per couple, 1..max_children
  config.task.max_people = 16         # cap on people per tree (fixes the padded length)
  config.task.compound_relations = (  # relations asked, chains of the given ones
      "maternal_grandmother", "maternal_grandfather", "paternal_grandmother",
      "paternal_grandfather", "maternal_uncle", "paternal_uncle", "mother_in_law",
      "father_in_law", "maternal_great_uncle", "paternal_great_uncle")
  if config.model.name in ("ntm", "dnc"):
    config.model.memory_size = 96     # N slots >= triples per tree (5 * max_people + 2)
  if config.model.name == "kv_memory":
    config.model.num_hops = 4         # longest compound relation: 4 base relations
    config.model.answer_from = "gated"  # one answer step, from the hop where the chain ends
  return config
