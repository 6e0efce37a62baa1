"""Every model a config can name (`config.model.name`), by kind, and which families take it.

Kinds:

  core            recurrent memory cores under the `memjax.cores` contract: ntm, dnc, lstm, gru,
                  linear_attention, delta_rule and any core registered with
                  `memjax.cores.register_core`
  segment_lm      segment-level language models over tokens (`memjax.transformer`):
                  transformer_xl, compressive, vanilla, infini_attention, rmt,
                  memorizing_transformer
  memory_network  memory networks over a story's sentences (`memjax.models`): memn2n, kv_memnn
  kv_memory       key-value memories over a knowledge graph's triples (`memjax.knowledge`)
  question_reader the KB-QA LSTM baseline (`memjax.knowledge.kbqa_models`)

A family resolves the name first (`resolve`), so that a model of a kind it cannot
train is refused in one line that says which models it takes, then builds it
with its kind's builder (`build_core` for cores).
"""
from typing import Dict, Sequence, Tuple

from memjax.cores import registry as core_registry
from memjax.errors import ConfigError

KINDS = {"core": "recurrent cores", "segment_lm": "segment-level language models",
         "memory_network": "memory networks", "kv_memory": "key-value memories",
         "question_reader": "question readers"}
_MODELS: Dict[str, str] = {
    "transformer_xl": "segment_lm", "compressive": "segment_lm", "vanilla": "segment_lm",
    "infini_attention": "segment_lm", "rmt": "segment_lm", "memorizing_transformer": "segment_lm",
    "memn2n": "memory_network", "kv_memnn": "memory_network",
    "kv_memory": "kv_memory",
}
# Old spellings, refused with the new one (key-value memories are spelt kv_ everywhere).
RENAMED = {"kvmemnn": "kv_memnn", "kvmemory": "kv_memory"}


def register_model(name: str, kind: str) -> None:
  """Declares a non-core model `name` of `kind` (cores use `memjax.cores.register_core`)."""
  if kind not in KINDS:
    raise ValueError(f"kind {kind!r} is not one of {sorted(KINDS)}")
  _MODELS[name] = kind


def resolve(model_config, experiment: str, kinds: Sequence[str],
            extra: Dict[str, str] = None) -> Tuple[str, str]:
  """`(name, kind)` of `model_config.name`, which `experiment` must take (one of `kinds`).

  Args:
    extra: family-specific names (name -> kind), e.g. the KB-QA LSTM baseline.

  Raises:
    ConfigError naming `model.name`, the models `experiment` takes, or the new spelling.
  """
  name = model_config.get("name") if hasattr(model_config, "get") else None
  if name in RENAMED:
    raise ConfigError(f"model.name={name!r} is now {RENAMED[name]!r}")
  known = {**_MODELS, **(extra or {})}
  cores = core_registry.registered_cores()
  # A family's own names first: the KB-QA "lstm" is its question reader, not the LSTM core.
  kind = (extra or {}).get(name) or ("core" if name in cores else known.get(name))
  if kind not in kinds:
    names = lambda k: cores if k == "core" else sorted(n for n, v in known.items() if v == k)
    takes = "; ".join(f"{KINDS[k]} ({', '.join(names(k))})" for k in kinds)
    what = f"is one of the {KINDS[kind]}" if kind else "is not a registered core or model"
    raise ConfigError(f"model.name={name!r} {what}; experiment {experiment!r} takes {takes}"
                      + ("" if kind else "; register a core with memjax.cores.register_core"))
  return name, kind


def build_core(model_config, output_size: int):
  """The registered core of `model_config` (ConfigError naming a field it lacks)."""
  try:
    return core_registry.build_core(dict(model_config), output_size)
  except ValueError as error:
    raise ConfigError(str(error)) from None
