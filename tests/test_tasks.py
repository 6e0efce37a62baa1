"""Algorithmic task generators: layout against numpy, jit/length behaviour, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.tasks import build_task, bits_error_per_sequence


def test_copy_targets_are_the_inputs_after_the_delimiter():
  task = build_task("copy", num_bits=6, min_length=1, max_length=9)
  batch = jax.jit(lambda k: task.sample(k, 32))(jax.random.PRNGKey(0))
  assert batch.inputs.shape == (32, 19, 7) and batch.targets.shape == (32, 19, 6)
  for inputs, targets, mask, length in zip(*map(np.asarray, batch)):
    np.testing.assert_array_equal(targets[length + 1:2 * length + 1], inputs[:length, :6])
    assert inputs[length, 6] == 1 and inputs[:, 6].sum() == 1
    assert mask.sum() == length and mask[length + 1:2 * length + 1].all()
    assert not inputs[length + 1:].any() and not targets[2 * length + 1:].any()


def test_lengths_cover_the_range_and_one_compile_serves_all_lengths():
  task = build_task("copy", min_length=1, max_length=20)
  lengths = np.asarray(task.sample(jax.random.PRNGKey(1), 4000).lengths)
  assert lengths.min() == 1 and lengths.max() == 20
  build = jax.jit(task.build, static_argnums=2)
  for length in (10, 80, 120):
    batch = build(jax.random.PRNGKey(2), jnp.full((3,), length), 120)
    assert batch.inputs.shape[1] == 241 and float(batch.mask[0].sum()) == length
  assert build._cache_size() == 1


def test_repeat_copy_layout():
  task = build_task("repeat_copy", num_bits=4, min_length=2, max_length=4, max_repeats=3)
  batch = task.sample(jax.random.PRNGKey(3), 16)
  for inputs, targets, mask, length in zip(*map(np.asarray, batch)):
    repeats = int(round(inputs[length, 5] * 3))
    assert 1 <= repeats <= 3 and inputs[length, 4] == 1
    out = targets[length + 1:length + 1 + repeats * length, :4]
    np.testing.assert_array_equal(out, np.tile(inputs[:length, :4], (repeats, 1)))
    end = length + 1 + repeats * length
    assert targets[end, 4] == 1 and targets[:, 4].sum() == 1 and mask.sum() == repeats * length + 1


def test_associative_recall_answer_is_the_item_after_the_query():
  task = build_task("associative_recall", num_bits=6, item_length=3, min_length=2, max_length=6)
  batch = task.sample(jax.random.PRNGKey(4), 64)
  for inputs, targets, mask, num_items in zip(*map(np.asarray, batch)):
    items = [inputs[4 * k + 1:4 * k + 4, :6] for k in range(num_items)]
    assert all(inputs[4 * k, 6] == 1 for k in range(num_items))
    start = 4 * num_items
    assert inputs[start, 7] == 1
    query = inputs[start + 1:start + 4, :6]
    matches = [k for k in range(num_items - 1) if np.array_equal(items[k], query)]
    assert matches, "the query is one of the items (not the last)"
    answer = targets[start + 4:start + 7]
    assert any(np.array_equal(items[k + 1], answer) for k in matches)
    assert mask.sum() == 3


def test_priority_sort_outputs_highest_priorities_in_order():
  task = build_task("priority_sort", num_bits=5, min_length=8, max_length=8, num_outputs=6)
  batch = task.sample(jax.random.PRNGKey(5), 8)
  for inputs, targets, mask, length in zip(*map(np.asarray, batch)):
    order = np.argsort(-inputs[:length, 5])[:6]
    np.testing.assert_array_equal(targets[length + 1:length + 7], inputs[order, :5])
    assert mask.sum() == 6 and inputs[length, 6] == 1


def test_bits_error_counts_wrong_bits_in_the_mask_only():
  targets = jnp.array([[[1.0, 0.0], [1.0, 1.0]]])
  logits = jnp.array([[[5.0, 5.0], [-5.0, -5.0]]])  # step 0: 1 wrong, step 1: 2 wrong
  np.testing.assert_allclose(bits_error_per_sequence(logits, targets, jnp.array([[1.0, 0.0]])), [1.0])
  np.testing.assert_allclose(bits_error_per_sequence(logits, targets, jnp.array([[1.0, 1.0]])), [3.0])


def test_bad_lengths_and_fields_are_named():
  task = build_task("copy", max_length=20)
  with pytest.raises(ValueError, match="beyond the padded maximum 20"):
    task.sample(jax.random.PRNGKey(0), 2, max_length=40, pad_length=20)
  with pytest.raises(ValueError, match="beyond the padded maximum"):
    task.build(jax.random.PRNGKey(0), jnp.array([30]), 20)
  with pytest.raises(ValueError, match=r"task.min_length \(5\) <= task.max_length \(3\)"):
    build_task("copy", min_length=5, max_length=3).sample(jax.random.PRNGKey(0), 2)
  with pytest.raises(ValueError, match="task.num_bitz"):
    build_task("copy", num_bitz=3)
  with pytest.raises(ValueError, match="task.name='sort'"):
    build_task("sort")
