"""memjax/cores/base.py `check_core` and registry.py: a core that breaks the contract is named.

Toy cores break it one way each; the built-in cores pass. All checks are abstract
(`jax.eval_shape`), so nothing here runs a step.
"""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from memjax.cores import DNC, NTM, GRUCore, LSTMCore, MemoryCore, check_core
from memjax.cores.registry import _CORES, build_core, register_core


class ToyState(NamedTuple):
  memory: jax.Array


class ToyCore(MemoryCore):
  """Sums its inputs into a memory; `mistake` breaks the contract one way."""
  output_size: int
  mistake: str = ""

  def initialize_carry(self, rng, input_shape):
    memory = jnp.zeros((input_shape[0], 4))
    return ToyState("not an array") if self.mistake == "string_leaf" else ToyState(memory)

  @nn.compact
  def __call__(self, carry, inputs):
    memory = carry.memory + nn.Dense(4)(inputs)
    width = {"narrow_output": 1, "wide_output": self.output_size + 1}.get(self.mistake,
                                                                          self.output_size)
    outputs = nn.Dense(width)(memory)
    if self.mistake == "growing_carry":
      memory = jnp.concatenate([memory, memory[:, :1]], axis=1)
    if self.mistake == "int_carry":
      memory = memory.astype(jnp.int32)
    if self.mistake == "extra_carry_field":
      return (memory, memory), outputs
    if self.mistake == "own_error":
      raise ValueError("my core's own message")
    if self.mistake == "string_output":
      return ToyState(memory), "logits"
    return ToyState(memory), outputs


@pytest.mark.parametrize("core", [
    NTM(output_size=3, memory_size=8, word_size=4, controller_size=8),
    DNC(output_size=3, memory_size=8, word_size=4, num_read_heads=2, controller_size=8),
    LSTMCore(output_size=3, hidden_size=8), GRUCore(output_size=3, hidden_size=8),
    ToyCore(output_size=3)], ids=lambda core: type(core).__name__)
def test_cores_that_keep_the_contract_pass(core):
  check_core(core, (2, 5), 3)


@pytest.mark.parametrize("mistake,message", [
    # [batch, 1] would broadcast against [batch, 3] targets and train silently.
    ("narrow_output", r"returned outputs of shape \(2, 1\); the contract is .* \(2, 3\)"),
    ("wide_output", r"outputs of shape \(2, 4\)"),
    ("growing_carry", r"changes the carry's shapes .*\.memory: float32\[2, 4\] -> float32\[2, 5\]"),
    ("int_carry", r"\.memory: float32\[2, 4\] -> int32\[2, 4\]"),
    ("extra_carry_field", r"the carry a step returns has structure"),
    ("string_leaf", r"initialize_carry returned a carry with leaves that are not arrays: "
                    r"\['\.memory: str'\]"),
])
def test_each_broken_contract_is_named(mistake, message):
  with pytest.raises(ValueError, match="core ToyCore: .*" + message):
    check_core(ToyCore(output_size=3, mistake=mistake), (2, 5), 3)


def test_errors_from_the_cores_own_code_keep_their_message_and_say_where():
  with pytest.raises(ValueError, match="my core's own message") as info:
    check_core(ToyCore(output_size=3, mistake="own_error"), (2, 5), 3)
  assert any("raised by core ToyCore's own code" in note for note in info.value.__notes__)
  with pytest.raises(TypeError) as info:
    check_core(ToyCore(output_size=3, mistake="string_output"), (2, 5), 3)
  assert any("check_core of core ToyCore" in note for note in info.value.__notes__)


def test_a_registered_class_without_output_size_is_named():
  class NoOutputSize(MemoryCore):
    hidden_size: int = 4

  register_core("no_output_size", NoOutputSize)
  try:
    with pytest.raises(ValueError, match="model.name='no_output_size': core class NoOutputSize "
                                         "has no field output_size"):
      build_core({"name": "no_output_size"}, 3)
  finally:
    del _CORES["no_output_size"]


def test_the_trainer_refuses_a_broken_core_in_one_line_naming_model_name():
  import configs.copy_ntm as copy_ntm
  from memjax.errors import ConfigError
  from memjax.training.families.algorithmic import AlgorithmicFamily

  config = copy_ntm.get_config()
  config.model = {"name": "toy_core", "mistake": "narrow_output"}
  register_core("toy_core", ToyCore)
  try:
    with pytest.raises(ConfigError, match=r"^model.name='toy_core': core ToyCore: one step on "
                                          r"inputs of shape \(16, 9\) returned outputs of "
                                          r"shape \(16, 1\)"):
      AlgorithmicFamily(config)
  finally:
    del _CORES["toy_core"]
