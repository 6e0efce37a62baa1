"""char_lm with `train.segments_per_step` = k: a step trains on k consecutive segments of every
row, the carry threaded through them inside the loss (memjax/training/families/language_model.py).

k = 1 is the one-segment step of before, op for op; with k = 2 the Recurrent Memory
Transformer's gradient crosses its memory tokens from the first segment into the second
(with k = 1 it never does); the loss is two segments applied by hand; the carries and resets
of a k = 2 run are a k = 1 run's at the same segments, across the rows' wrap-around; bad
values are refused in one line.
"""
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from memjax.errors import ConfigError
from memjax.training import loop, registry
from memjax.training.families import language_model
from memjax.training.family import one_seed
from tests.family_configs import TEXT, tiny_config, with_model, write_data


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  return write_data(tmp_path_factory.mktemp("data"))


def _family(data_root, model=None, segments_per_step=1, dropout=0.0, **train):
  config = tiny_config("char_lm", data_root)
  if model is not None:
    with_model(config, model)
  config.model.dropout = dropout
  config.train.update(segments_per_step=segments_per_step, **train)
  return registry.family_class(config)(config)


def _start(family):
  """One seed's (params, carry, rng) at step 0."""
  state = family.initial_state()
  return one_seed(state.params), one_seed(state.carry), one_seed(state.rng)


def _loss(family):
  """The family's jitted (params, carry, rng, step) -> (nats, accuracy, reconstruction, carry)."""
  streams = family.batch(0)
  return jax.jit(lambda params, carry, rng, step: family._segment_loss(
      params, carry, rng, step, streams, None))


def _segment(family, index):
  """Segment `index` of every training row, sliced on the host: (inputs, targets)."""
  start = index * family.seg_len
  rows = family.train_streams
  return rows[:, start:start + family.seg_len], rows[:, start + 1:start + family.seg_len + 1]


# ---------------------------------------------------------------------------------------------
# k = 1: the step of before.

def _previous_segment_loss(family, params, carry, rng, step, streams):
  """char_lm's step loss before train.segments_per_step existed (its code, with the dropout key
  that `_seed_step` drew then)."""
  dropout_rng = None
  if family.dropout:
    dropout_rng = jax.random.fold_in(jax.random.fold_in(rng, language_model._DROPOUT_STREAM),
                                     step)
  index = step % family.num_train_segments
  inputs, targets = language_model.text.segment(streams, index, family.seg_len)
  resets = jnp.broadcast_to(index == 0, (inputs.shape[0],))
  if family.reset_probability:
    reset_rng = jax.random.fold_in(jax.random.fold_in(rng, language_model._RESET_STREAM), step)
    resets |= jax.random.bernoulli(reset_rng, family.reset_probability, resets.shape)
  carry, logits, reconstruction = family.lm.apply(params, carry, inputs, resets, dropout_rng)
  nats = language_model._cross_entropy_sum(
      logits, targets, jnp.ones(targets.shape, jnp.float32)) / targets.size
  correct = jnp.mean((jnp.argmax(logits, -1) == targets).astype(jnp.float32))
  return nats, correct, reconstruction, carry


@pytest.mark.slow  # 12 s of the default suite's budget; the k = 1 path is the one every char_lm
def test_one_segment_per_step_is_the_step_of_before_bit_for_bit(data_root):  # test runs
  """k = 1 (the default) with dropout and random resets: loss, accuracy and carry equal the
  previous code's at the first segment, mid-row, and after the rows wrap around. (A fixed-seed
  12-step run of XL with dropout, RMT and an LSTM, both with random resets, ended with the same
  parameters, optimizer state and carry, bit for bit, before and after k existed.)"""
  family = _family(data_root, "rmt", dropout=0.1, carry_reset_probability=0.5)
  params, carry, rng = _start(family)
  streams = family.batch(0)
  previous = jax.jit(lambda p, c, r, s: _previous_segment_loss(family, p, c, r, s, streams))
  now = _loss(family)
  for step in (0, 1, family.num_train_segments, family.num_train_segments + 1):
    expected = previous(params, carry, rng, jnp.int32(step))
    chex.assert_trees_all_equal(now(params, carry, rng, step), expected)
    carry = expected[-1]


# ---------------------------------------------------------------------------------------------
# k = 2: gradient through the memory, and a reference by hand.

def _by_hand(family, params, carry, first_index, stop_gradient):
  """Mean next-token cross-entropy over segments first_index, first_index + 1, applied with
  `lm.apply` one after the other (the memory between them under stop-gradient if asked)."""
  total, count = 0.0, 0
  for index in (first_index, first_index + 1):
    inputs, targets = _segment(family, index)
    resets = jnp.full((inputs.shape[0],), index == 0)
    carry, logits, _ = family.lm.apply(params, carry, jnp.asarray(inputs), resets)
    total += jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, targets))
    count += targets.size
    if stop_gradient:
      carry = jax.tree_util.tree_map(jax.lax.stop_gradient, carry)
  return total / count, carry


def test_two_segments_per_step_backpropagate_through_the_rmt_memory(data_root):
  """RMT, k = 2, step 1 (segments 2 and 3) from the carry after step 0: the family's loss and
  carry are the two segments applied by hand, and its gradient is the hand-written one's with
  the memory differentiable, not with it under stop-gradient. The k = 1 steps over the same
  two segments have the stop-gradient one: there the gradient never crosses the memory."""
  two = _family(data_root, "rmt", segments_per_step=2)
  params, carry, rng = _start(two)
  _, _, _, carry = _loss(two)(params, carry, rng, 0)  # step 0: segments 0, 1
  assert int(carry.segment[0]) == 2

  def family_loss(p):
    nats, _, _, new_carry = two._segment_loss(p, carry, rng, jnp.int32(1), two.batch(0),
                                              None)
    return nats, new_carry

  (nats, new_carry), grads = jax.jit(jax.value_and_grad(family_loss, has_aux=True))(params)

  @jax.jit
  def by_hand(p):  # (loss, carry) by hand, and its gradients with and without the memory's
    through = jax.value_and_grad(lambda q: _by_hand(two, q, carry, 2, False), has_aux=True)
    return through(p), jax.grad(lambda q: _by_hand(two, q, carry, 2, True)[0])(p)

  ((reference, reference_carry), through), cut = by_hand(params)
  np.testing.assert_allclose(float(nats), float(reference), rtol=1e-6)
  chex.assert_trees_all_close(new_carry, reference_carry, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(grads, through, rtol=1e-4, atol=1e-7)
  # The memory's share of the gradient is small at initialisation, but far above rounding.
  gap = lambda a, b: max(jax.tree_util.tree_leaves(jax.tree_util.tree_map(
      lambda x, y: float(jnp.max(jnp.abs(x - y))), a, b)))
  assert gap(grads, cut) > max(100 * gap(grads, through), 1e-5), (gap(grads, cut),
                                                                  gap(grads, through))

  one = _family(data_root, "rmt", segments_per_step=1)
  one_step = jax.jit(jax.grad(lambda p, c, s: one._segment_loss(
      p, c, rng, s, one.batch(0), None)[::3], has_aux=True))  # (nats, carry)
  first, middle = one_step(params, carry, 2)  # segment 2; the carry after it is a constant
  second, _ = one_step(params, middle, 3)
  chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a, b: (a + b) / 2, first, second),
                              cut, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Carries and resets.

def test_carries_and_resets_of_two_segment_steps_are_those_of_one_segment_steps(tmp_path):
  """Rows of 11 segments (k = 2 reads 5 windows and leaves segment 10), random resets at
  p = 0.3, fixed parameters: the carry after each k = 2 step is the k = 1 run's after the same
  segment, through the wrap-around (where both restart at segment 0). RMT's carry counts the
  segments since its row's last reset, so equal carries mean resets at the same segments."""
  root = tmp_path / "data"
  root.mkdir()
  (root / "corpus.txt").write_text(TEXT[:100])  # 90 training tokens: 2 rows of 11 segments
  one = _family(root, "rmt", carry_reset_probability=0.3)
  two = _family(root, "rmt", segments_per_step=2, carry_reset_probability=0.3)
  assert one.num_train_segments == two.num_train_segments == 11 and two.num_windows == 5
  params, start, rng = _start(one)
  one_step, two_step = _loss(one), _loss(two)
  carries, carry = [], start  # carries[n]: the k = 1 run's carry after its step n
  for step in range(15):
    carry = one_step(params, carry, rng, step)[-1]
    carries.append(carry)
  counters, carry = [], start
  for step in range(7):
    carry = two_step(params, carry, rng, step)[-1]
    passes, window = divmod(step, 5)
    chex.assert_trees_all_close(carry, carries[passes * 11 + window * 2 + 1], rtol=1e-5,
                                atol=1e-6)
    counters.append(np.asarray(carry.segment))
  # Random resets happened mid-row (a counter below the segments read since the row's start),
  # and the wrap restarted both rows: after pass 1's window 0 they have read 2 segments or 1.
  assert any((c < 2 * (s + 1)).any() for s, c in enumerate(counters[:5])), counters
  assert (counters[5] <= 2).all(), counters


# ---------------------------------------------------------------------------------------------
# Bad values.

@pytest.mark.parametrize("value, message", [(0, "must be >= 1"), (-2, "must be >= 1"),
                                            (203, "must be <= the 202 segments")])
def test_bad_segments_per_step_is_refused_in_one_line(data_root, tmp_path, value, message):
  """0 and below before any work; more segments than a row holds (202 here: no window could
  be filled) once the text is read."""
  config = tiny_config("char_lm", data_root)
  config.train.segments_per_step = value
  with pytest.raises(ConfigError) as error:
    loop.train_and_evaluate(config, str(pathlib.Path(tmp_path) / "run"))
  text = str(error.value)
  assert "train.segments_per_step" in text and message in text and "\n" not in text, text
