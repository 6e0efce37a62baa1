"""Which relation each hop of a trained inference key-value memory follows, per compound relation.

    python benchmarks/graph_kv_routes.py --workdir=/tmp/kg9/ginf_kv [--num_trees=500]

Loads the newest checkpoint of a `configs/graph_inference_ntm.py:kv_memory` run,
answers `--num_trees` fresh family trees (seed 123, not the evaluation seed)
and prints, per compound relation, the relation of the triple each hop
attends to most (with how often), the hop the answer gate picks, and the
fraction answered exactly.
"""
import collections
import pathlib
import sys

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from memjax.knowledge import graph_tasks as gt
from memjax.training import loop
from memjax.training.families.graph import GraphFamily
from memjax.training.workdir import load_config

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory of a graph_inference kv_memory run.")
_NUM_TREES = flags.DEFINE_integer("num_trees", 500, "Fresh family trees to analyse.")


def main(argv):
  del argv
  workdir = pathlib.Path(_WORKDIR.value or sys.exit("error: --workdir is required"))
  config = load_config(str(workdir))
  if config.task.name != "graph_inference" or config.model.name != "kv_memory":
    sys.exit(f"error: {workdir} is a {config.task.name} / {config.model.name} run, not "
             "graph_inference / kv_memory")
  family = GraphFamily(config)
  task, model = family.task, family.module
  batch = task.sample(np.random.default_rng(123), _NUM_TREES.value)
  state, step = loop.restore(family, str(workdir))
  if state is None:
    sys.exit(f"error: no checkpoint under {workdir / 'checkpoints'}")
  params = jax.tree_util.tree_map(lambda leaf: leaf[0], state.params)
  out = jax.jit(model.apply)({"params": params}, batch.inputs)
  correct = np.asarray(gt.answers_correct(task, out.logits, batch.targets, batch.mask)[0])
  n, r, names = task.num_labels, task.num_relations, task.relation_names
  width = 2 * n + r
  weights, gates = np.asarray(out.hop_weights), np.asarray(out.answer_gates)[:, 0]
  hops = collections.defaultdict(lambda: [collections.Counter() for _ in range(model.num_hops)])
  gate_hop = collections.defaultdict(collections.Counter)
  answered = collections.defaultdict(list)
  for b in range(_NUM_TREES.value):
    query_step = np.nonzero(batch.inputs[b, :, width + gt.QUERY_FLAG])[0][0]
    compound = names[int(np.argmax(batch.inputs[b, query_step, n:n + r]))]
    for hop in range(model.num_hops):
      slot = int(np.argmax(weights[b, hop]))
      hops[compound][hop][names[int(np.argmax(batch.inputs[b, slot, n:n + r]))]] += 1
    gate_hop[compound][int(np.argmax(gates[b])) + 1] += 1
    answered[compound].append(correct[b])
  print(f"checkpoint step {step}; {_NUM_TREES.value} trees; answered exactly "
        f"{np.mean(correct):.3f}")
  print("| compound relation | chain | most-attended relation per hop | answer hop | exact |")
  print("|---|---|---|---|---|")
  for compound in task.compound_relations:
    if not answered[compound]:
      continue
    total = len(answered[compound])
    route = ", ".join(f"{k} ({v}/{total})" for k, v in
                      (c.most_common(1)[0] for c in hops[compound]))
    print(f"| {compound} | {', '.join(gt.FAMILY_COMPOUND_RELATIONS[compound])} | {route} | "
          f"{dict(gate_hop[compound])} | {np.mean(answered[compound]):.2f} of {total} |")


if __name__ == "__main__":
  app.run(main)
