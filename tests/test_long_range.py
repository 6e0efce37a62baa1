"""The long-range recall task: layout, purity, and why mem_len = 0 cannot solve it."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memjax.cores import dynamic_unroll, init_core
from memjax.tasks.long_range import QUERY_TOKEN, LongRangeRecallTask
from memjax.transformer import TransformerXL
from tests.family_configs import load_config


def test_layout_and_answer():
  task = LongRangeRecallTask(seg_len=8, num_segments=3, num_pairs=2)
  batch = jax.jit(task.sample, static_argnums=1)(jax.random.PRNGKey(0), 64)
  inputs, targets, mask = map(np.asarray, batch)
  assert inputs.shape == targets.shape == mask.shape == (64, 24)
  assert mask.sum() == 64 and mask[:, -1].all()
  keys, values = inputs[:, 0:4:2], inputs[:, 1:4:2]
  assert ((keys >= 1) & (keys <= task.num_keys)).all()
  assert (keys[:, 0] != keys[:, 1]).all()
  assert ((values > task.num_keys) & (values <= task.num_keys + task.num_values)).all()
  assert (inputs[:, -2] == QUERY_TOKEN).all()
  noise = inputs[:, 4:-2]
  assert (noise > task.num_keys + task.num_values).all() and (noise < task.vocab_size).all()
  for b in range(64):  # the target is the value paired with the queried key
    pair = list(keys[b]).index(inputs[b, -1])
    assert targets[b, -1] == values[b, pair]
  assert task.min_distance == 24 - 1 - 3
  again = jax.jit(task.sample, static_argnums=1)(jax.random.PRNGKey(0), 64)
  np.testing.assert_array_equal(inputs, np.asarray(again.inputs))


def test_mixed_gaps_train_at_every_gap_and_evaluate_at_the_longest():
  """train_gap="mixed": each training example's pairs open a segment drawn among the first
  num_segments - 1 (noise elsewhere, the right answer); evaluation keeps the first."""
  task = LongRangeRecallTask(seg_len=8, num_segments=4, num_pairs=2, train_gap="mixed")
  inputs, targets, _ = map(np.asarray, jax.jit(task.sample, static_argnums=1)(
      jax.random.PRNGKey(3), 256))
  noise_start = 1 + task.num_keys + task.num_values
  starts = []
  for b in range(256):
    body = inputs[b, :-2]
    pair_positions = np.flatnonzero(body < noise_start)
    assert len(pair_positions) == 4 and pair_positions[0] % 8 == 0, pair_positions
    np.testing.assert_array_equal(pair_positions, pair_positions[0] + np.arange(4))
    starts.append(pair_positions[0] // 8)
    keys, values = body[pair_positions[0::2]], body[pair_positions[1::2]]
    assert targets[b, -1] == values[list(keys).index(inputs[b, -1])]
  counts = np.bincount(starts, minlength=3)
  assert len(counts) == 3 and counts.min() > 256 / 3 * 0.7, counts  # segments 0, 1, 2
  # The gap is drawn independently of the answer: every value occurs at every gap (the far
  # task's layout, one pair; a gap drawn from the values' random bits gave each gap a
  # quarter of the values).
  far = LongRangeRecallTask(num_segments=5, num_pairs=1, train_gap="mixed")
  far_inputs, far_targets, _ = map(np.asarray, far.sample(jax.random.PRNGKey(4), 512))
  gaps = np.argmax(far_inputs.reshape(512, 5, 16)[:, :4, 0] <= far.num_keys, axis=1)
  for gap in range(4):
    answers = far_targets[gaps == gap, -1]
    assert len(np.unique(answers)) == far.num_values, (gap, np.unique(answers))
  evaluation = np.asarray(task.evaluation_batch(jax.random.PRNGKey(3), 64).inputs)
  longest = LongRangeRecallTask(seg_len=8, num_segments=4, num_pairs=2)
  np.testing.assert_array_equal(evaluation,
                                np.asarray(longest.sample(jax.random.PRNGKey(3), 64).inputs))
  with pytest.raises(ValueError, match="task.train_gap"):
    LongRangeRecallTask(train_gap="random")


def test_any_gap_also_puts_the_pairs_in_the_query_segment():
  """train_gap="any": the pairs open any of the segments, the query's own included."""
  task = LongRangeRecallTask(num_segments=3, num_pairs=1, train_gap="any")
  inputs, targets, _ = map(np.asarray, task.sample(jax.random.PRNGKey(2), 600))
  starts = np.argmax(inputs.reshape(600, 3, 16)[..., 0] <= task.num_keys, axis=1)
  assert (np.bincount(starts, minlength=3) > 600 / 3 * 0.8).all()
  np.testing.assert_array_equal(inputs[:, -2], 0)
  np.testing.assert_array_equal(targets[np.arange(600), -1], inputs[np.arange(600), starts * 16 + 1])
  with pytest.raises(ValueError, match="task.train_gap='any'"):
    LongRangeRecallTask(seg_len=8, num_pairs=4, train_gap="any")


def test_errors_name_the_config_key():
  with pytest.raises(ValueError, match="task.num_segments"):
    LongRangeRecallTask(num_segments=1)
  with pytest.raises(ValueError, match="task.num_pairs"):
    LongRangeRecallTask(num_pairs=9, num_keys=8)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _last_logits(model, params, inputs, seg_len):
  """Logits at the last position for `inputs` and for a copy with `[:, 1]` altered: `[2, batch, vocab]`."""
  def run(tokens):
    segments = tokens.reshape(tokens.shape[0], -1, seg_len)
    carry = model.initialize_carry(None, (tokens.shape[0], seg_len))
    logits, _ = dynamic_unroll(functools.partial(model.apply, params), segments, carry)
    return logits[:, -1, -1]
  return jnp.stack([run(inputs[0]), run(inputs[1])])


def test_only_a_memory_can_see_the_answer():
  """Changing the value in segment 1 cannot change a mem_len=0 model's answer; it changes XL's."""
  task = LongRangeRecallTask(seg_len=8, num_segments=3)
  inputs = task.sample(jax.random.PRNGKey(0), 4).inputs
  altered = inputs.at[:, 1].set(jnp.where(inputs[:, 1] == task.num_keys + 1, task.num_keys + 2,
                                          task.num_keys + 1))
  fields = dict(vocab_size=task.vocab_size, d_model=16, num_layers=2, num_heads=2, d_ff=16)
  params = init_core(TransformerXL(**fields), jax.random.PRNGKey(1), (4, 8))
  no_memory = TransformerXL(mem_len=0, **fields)
  xl = TransformerXL(mem_len=16, **fields)
  both = jnp.stack([inputs, altered])
  original, changed = np.asarray(_last_logits(no_memory, params, both, 8))
  np.testing.assert_array_equal(original, changed)
  original, changed = np.asarray(_last_logits(xl, params, both, 8))
  assert not np.allclose(original, changed, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("mem_len", [32, 0])
def test_xl_solves_long_range_and_no_memory_does_not(tmp_path, mem_len):
  """configs/long_range_xl.py as shipped: XL > 95% recall, mem_len=0 near chance (1/8)."""
  from memjax.training import loop
  config = load_config("long_range_xl")
  config.model.mem_len = mem_len
  results = loop.train_and_evaluate(config, str(tmp_path / f"m{mem_len}"))
  accuracy = results["final"]["accuracy"]
  if mem_len:
    assert accuracy > 0.95
  else:
    assert accuracy < 0.25


@pytest.mark.slow  # ~35 s end to end; the model and task have fast tests above
def test_long_range_trainer_smoke(tmp_path):
  from memjax.training import loop
  config = load_config("long_range_xl")
  config.model.num_layers = 1
  config.model.d_model = 16
  config.model.d_ff = 16
  config.train.num_steps = 2
  config.train.batch_size = 4
  config.train.eval_every = 2
  config.eval.batch_size = 8
  results = loop.train_and_evaluate(config, str(tmp_path / "work"))
  assert results["steps"] == 2 and 0.0 <= results["final"]["accuracy"] <= 1.0
