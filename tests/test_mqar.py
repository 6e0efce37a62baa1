"""Multi-query associative recall: the layout against a numpy reading of the definition, and
the state sizes the memory zoo plots."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.tasks.mqar import FILL_TOKEN, MQARTask


def _check_example(task: MQARTask, inputs, targets, mask, num_pairs: int):
  """One sequence against the definition (memjax/tasks/mqar.py), in plain numpy."""
  length, keys_end = task.length, task.num_keys
  pairs = inputs[:2 * num_pairs].reshape(num_pairs, 2)
  keys, values = pairs[:, 0], pairs[:, 1]
  assert np.all((keys >= 1) & (keys <= keys_end)), keys
  assert len(set(keys.tolist())) == num_pairs, "keys of a sequence are distinct"
  assert np.all((values > keys_end) & (values <= keys_end + task.num_values)), values
  assert np.all(inputs[2 * num_pairs:length - 2 * num_pairs] == FILL_TOKEN)
  queries = inputs[length - 2 * num_pairs:].reshape(num_pairs, 2)
  assert sorted(queries[:, 0].tolist()) == sorted(keys.tolist()), "every key asked once"
  value_of = dict(zip(keys.tolist(), values.tolist()))
  for j, (key, value) in enumerate(queries):
    position = length - 2 * num_pairs + 2 * j
    assert value == value_of[key], "the query's value is fed after its key"
    assert targets[position] == value_of[key]
    assert mask[position] == 1.0
  assert mask.sum() == num_pairs
  assert np.all(targets[mask == 0] == 0)


def test_every_sequence_matches_the_definition_with_per_example_pair_counts():
  task = MQARTask(seg_len=8, num_segments=4, num_pairs=6, min_pairs=1, num_keys=9,
                  num_values=5)
  batch = jax.jit(task.sample, static_argnums=1)(jax.random.PRNGKey(3), 64)
  chex.assert_shape([batch.inputs, batch.targets, batch.mask], (64, 32))
  chex.assert_type([batch.inputs, batch.targets, batch.mask], [jnp.int32, jnp.int32, jnp.float32])
  counts = np.asarray(batch.mask).sum(1).astype(int)
  assert set(counts.tolist()) == set(range(1, 7)), counts  # every count drawn, one program
  for b in range(64):
    _check_example(task, np.asarray(batch.inputs[b]), np.asarray(batch.targets[b]),
                   np.asarray(batch.mask[b]), counts[b])
  assert int(jnp.max(batch.inputs)) < task.vocab_size


def test_query_order_is_a_fresh_permutation_and_batches_are_pure_in_the_key():
  task = MQARTask(seg_len=16, num_segments=2, num_pairs=8, num_keys=8, num_values=8)
  batch = task.evaluation_batch(jax.random.PRNGKey(0), 200)
  first_query = np.asarray(batch.inputs[:, task.length - 16])
  first_pair = np.asarray(batch.inputs[:, 0])
  # The first query is the first pair's key about 1/8 of the time, not always.
  assert 0.03 < np.mean(first_query == first_pair) < 0.3
  again = task.evaluation_batch(jax.random.PRNGKey(0), 200)
  chex.assert_trees_all_equal(batch, again)
  other = task.evaluation_batch(jax.random.PRNGKey(1), 200)
  assert not np.array_equal(batch.inputs, other.inputs)
  np.testing.assert_array_equal(np.asarray(batch.mask).sum(1), 8)


@pytest.mark.parametrize("fields, message", [
    (dict(num_pairs=9, num_keys=8), "task.num_pairs=9 must be <= task.num_keys=8"),
    (dict(num_pairs=20, num_keys=64), "need 80 tokens"),
    (dict(min_pairs=9), "task.min_pairs=9 must be in [0, task.num_pairs=8]"),
    (dict(num_values=1), "task.num_values=1 must be >= 2"),
    (dict(seg_len=0), "task.seg_len=0 must be >= 1"),
])
def test_impossible_sizes_are_refused_naming_the_field(fields, message):
  with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
    MQARTask(**{**dict(seg_len=16, num_segments=4, num_pairs=8), **fields})


def test_state_size_is_the_carry_per_sequence():
  from memjax.models import registry as model_registry
  from memjax.models.language_models import CoreLM, SegmentLM, carry_size
  import ml_collections

  lstm_config = ml_collections.ConfigDict({"name": "lstm", "hidden_size": 24})
  lstm = CoreLM(model_registry.build_core(lstm_config, 10), 10)
  params = lstm.init(jax.random.PRNGKey(0), 1, 4)
  assert carry_size(lstm, params, 4) == 2 * 24  # (h, c)
  xl_config = ml_collections.ConfigDict(dict(name="transformer_xl", d_model=16, num_layers=2,
                                             num_heads=2, d_ff=32, mem_len=12))
  xl = SegmentLM.from_config(xl_config, 10)
  params = xl.init(jax.random.PRNGKey(0), 1, 4)
  # One cached hidden state per layer input (Dai et al. 2019), num_layers * mem_len *
  # d_model, and which of the mem_len slots hold a real past (XLMemory.valid).
  assert carry_size(xl, params, 4) == 2 * 12 * 16 + 12
