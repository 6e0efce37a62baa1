"""Plots a reader can trust (memjax/plots.py, Agg backend): colour maps by the data, integer
ticks, wrong bits marked, only the slots used, the seed in titles and file names, a loss
curve, axis labels a core chooses, and one line for a carry that does not fit."""
import json
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from configs import copy_ntm
from memjax import plots
from memjax.cores import MemoryCore
from memjax.cores.registry import _CORES, register_core
from memjax.training import loop
from memjax.training.metrics import MetricWriter
from tests.test_provenance import read_events

assert matplotlib.get_backend().lower() == "agg"


def tiny_config(model=None, **train):
  config = copy_ntm.get_config()
  config.task.min_length, config.task.max_length, config.task.num_bits = 1, 3, 3
  config.model.update(memory_size=6, word_size=4, controller_size=16)
  if model is not None:
    config.model = model
  config.train.update(batch_size=4, num_steps=4, log_every=2, eval_every=2,
                      eval_batch_size=8, target_error=-1.0, checkpoint_every=0)
  config.train.update(train)
  config.eval.lengths = ()
  return config


@pytest.fixture
def figures(monkeypatch):
  """The figures the module draws, kept open instead of saved."""
  drawn = []

  def keep(figure, path, title):
    figure.suptitle(title)
    drawn.append(figure)
    return path
  monkeypatch.setattr(plots, "_save", keep)
  yield drawn
  for figure in drawn:
    matplotlib.pyplot.close(figure)


def _is_integer_ticks(axis) -> bool:
  return all(float(t).is_integer() for t in list(axis.get_yticks()) + list(axis.get_xticks()))


def test_colour_maps_follow_the_data(figures):
  figure, axes = matplotlib.pyplot.subplots(3, 1)
  figures.append(figure)
  binary = plots.draw(axes[0], plots.View(np.array([[0, 1], [1, 0]]), "t", "bit"), "binary")
  signed = plots.draw(axes[1], plots.View(np.array([[-2.0, 0.5], [1.0, 0.0]]), "t", "s"), "m")
  weights = plots.draw(axes[2], plots.View(np.array([[0.2, 0.8]]), "t", "slot"), "w")
  assert binary.get_cmap().N == 2 and binary.get_clim() == (0, 1)   # two discrete colours
  assert signed.get_cmap().name == "RdBu_r" and signed.get_clim() == (-2.0, 2.0)  # centred at 0
  assert weights.get_cmap().name == "viridis" and weights.get_clim()[0] == 0.0
  assert all(_is_integer_ticks(axis) for axis in axes)
  assert list(axes[2].get_yticks()) == [0]   # one row: one tick, not 0.08 steps
  many = plots.View(np.zeros((40, 3)), "t", "slot", row_labels=list(range(100, 140)))
  plots.draw(axes[2], many, "many")
  assert [t.get_text() for t in axes[2].get_yticklabels()][:3] == ["100", "105", "110"]


def test_example_shows_probabilities_and_marks_the_wrong_bits(figures):
  time, bits = 7, 3
  inputs = np.zeros((time, bits + 1))
  inputs[:3, :bits] = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]
  inputs[3, bits] = 1
  targets = np.zeros((time, bits))
  targets[4:] = inputs[:3, :bits]
  mask = np.array([0, 0, 0, 0, 1, 1, 1], np.float32)
  probabilities = np.where(targets > 0, 0.9, 0.1)
  probabilities[5, 0], probabilities[6, 1] = 0.7, 0.2   # one false 1, one missed 1
  probabilities[1, 1] = 0.9                             # not scored: not wrong
  assert np.argwhere(plots.wrong_bits(targets, probabilities, mask)).tolist() == [[5, 0], [6, 1]]
  plots.plot_sequence_example("unused.png", inputs, targets, probabilities, mask, "copy, seed 3")
  (figure,) = figures
  inputs_axis, target_axis, output_axis = figure.axes[:3]
  assert inputs_axis.get_ylabel() == "input channel" and target_axis.get_ylabel() == "output bit"
  assert _is_integer_ticks(inputs_axis)
  assert "2 wrong bit(s)" in output_axis.get_title()
  assert output_axis.images[0].get_clim() == (0.0, 1.0)      # probabilities, not thresholded
  assert output_axis.images[0].get_array()[0, 5] == pytest.approx(0.7)
  marks = output_axis.collections[0].get_offsets()
  assert sorted(map(tuple, np.asarray(marks).tolist())) == [(5.0, 0.0), (6.0, 1.0)]
  assert target_axis.images[0].get_cmap().N == 2                 # 0/1 targets stay discrete
  assert np.ma.is_masked(target_axis.images[0].get_array()[0, 0])  # unscored steps: blank
  assert figure.texts[0].get_text() == "copy, seed 3"


class SlotCarry(NamedTuple):
  memory: np.ndarray
  read_weights: np.ndarray
  write_weights: np.ndarray


def _slot_carries(time=5, slots=8, word=3):
  read = np.zeros((time, 1, slots))
  write = np.zeros((time, 2, slots))
  read[:, 0, 2] = 1.0
  write[:, 0, 5] = 0.5
  write[:, 1, 6] = 0.005  # below USED_WEIGHT
  memory = np.linspace(-1, 1, time * slots * word).reshape(time, slots, word)
  return SlotCarry(memory, read, write)


def test_only_the_slots_used_are_drawn_with_their_numbers():
  views = plots.default_memory_view(_slot_carries())
  assert list(views) == ["write weights (head 0), 2 of 8 slots used",
                         "write weights (head 1), 2 of 8 slots used",
                         "read weights (head 0), 2 of 8 slots used",
                         "memory after the last step, 2 of 8 slots used"]
  memory = views["memory after the last step, 2 of 8 slots used"]
  assert (memory.xlabel, memory.ylabel) == ("word element", "memory slot")
  assert list(memory.row_labels) == [2, 5]
  np.testing.assert_array_equal(memory.values, _slot_carries().memory[-1][[2, 5]])
  every = plots.default_memory_view(_slot_carries(), all_slots=True)
  assert every["memory after the last step"].values.shape == (8, 3)
  assert every["read weights (head 0)"].values.shape == (8, 5)   # slots x time


def test_a_carry_that_does_not_fit_is_one_line():
  carries = _slot_carries()._replace(memory=np.zeros((5, 2, 8, 3)))
  with pytest.raises(plots.PlotContractError, match=r"^core Mine: carry field 'memory' has shape "
                     r"\(5, 2, 8, 3\) per example; visualize.py draws memory as \[time, slots, "
                     r"word\] .* memory_view\(carries\)") as info:
    plots.default_memory_view(carries, "Mine")
  assert "\n" not in str(info.value)
  with pytest.raises(plots.PlotContractError, match="disagree on the number of slots"):
    plots.default_memory_view(carries._replace(memory=np.zeros((5, 7, 3))), "Mine")
  assert plots.default_memory_view(("an", "lstm")) == {}


class ToyState(NamedTuple):
  memory: jax.Array  # [batch, keys, values]


class KeyValueCore(MemoryCore):
  """A carry of keys x values (not slots x words) that draws itself; `view` picks a mistake."""
  output_size: int
  view: str = "own"

  def initialize_carry(self, rng, input_shape):
    return ToyState(jnp.zeros((input_shape[0], 3, 2)))

  @nn.compact
  def __call__(self, carry, inputs):
    memory = carry.memory + nn.Dense(6)(inputs).reshape(-1, 3, 2)
    return ToyState(memory), nn.Dense(self.output_size)(memory.reshape(-1, 6))

  def memory_view(self, carries):
    if self.view == "three_d":
      return {"memory": plots.View(carries.memory, "value", "key")}
    if self.view == "raises":
      raise KeyError("reads")
    return {"memory M": (carries.memory[-1], "value dimension", "key dimension")}


def test_a_core_draws_its_own_state_and_a_bad_view_is_one_line():
  carries = ToyState(np.ones((4, 3, 2)))
  views = plots.memory_views(KeyValueCore(output_size=2), carries)
  assert views["memory M"].ylabel == "key dimension" and views["memory M"].values.shape == (3, 2)
  with pytest.raises(plots.PlotContractError, match="panel 'memory' has values of shape "
                                                    r"\(4, 3, 2\); each panel is 2-D"):
    plots.memory_views(KeyValueCore(output_size=2, view="three_d"), carries)
  with pytest.raises(plots.PlotContractError, match=r"memory_view\(carries\) raised KeyError"):
    plots.memory_views(KeyValueCore(output_size=2, view="raises"), carries)


def test_loss_curve_from_the_log_every_seed_a_line(tmp_path, figures):
  writer = MetricWriter(str(tmp_path))
  for step, loss in ((10, [0.7, 0.6]), (20, [0.4, 0.5]), (30, [0.1, 0.3])):
    writer.write_scalars(step, {"loss": np.array(loss)})
  writer.write_scalars(20, {"eval/bits_error": np.array([3.0, 4.0])})
  writer.close()
  plots.plot_loss_curve("unused.png", str(tmp_path), "run")
  (figure,) = figures
  loss_axis, eval_axis = figure.axes
  assert [line.get_label() for line in loss_axis.lines] == ["seed 0", "seed 1"]
  np.testing.assert_allclose(loss_axis.lines[1].get_ydata(), [0.6, 0.5, 0.3])
  assert eval_axis.get_ylabel() == "eval/bits_error"
  (tmp_path / "results.json").write_text(json.dumps(  # the history has the final evaluation
      {"history": [{"step": 20, "bits_error": [3.0, 4.0]}, {"step": 30, "bits_error": [1, 2]}]}))
  plots.plot_loss_curve("unused.png", str(tmp_path), "run")
  np.testing.assert_allclose(figures[1].axes[1].lines[0].get_xdata(), [20, 30])


def test_render_run_names_files_and_titles_by_seed_and_fills_tensorboard(tmp_path):
  config = tiny_config()
  config.num_seeds = 2
  loop.train_and_evaluate(config, str(tmp_path))
  written = plots.render_run(str(tmp_path), length=2, seed_index=1)
  names = [p.split("/")[-1] for p in written]
  assert names == ["example_seed1.png", "memory_seed1.png", "loss.png"]
  assert all((tmp_path / "plots" / name).stat().st_size > 0 for name in names)
  tags = read_events(tmp_path / "tensorboard")
  assert {"plots/example_seed1", "plots/memory_seed1", "plots/loss"} <= set(tags)
  assert tags["plots/loss"][0].image.height > 100


def test_render_run_of_a_core_whose_carry_does_not_fit_is_one_line(tmp_path):
  class BadViewCore(KeyValueCore):
    view: str = "three_d"

  register_core("bad_view_core", BadViewCore)
  try:
    loop.train_and_evaluate(tiny_config(model={"name": "bad_view_core"}, num_steps=1),
                            str(tmp_path))
    with pytest.raises(plots.PlotContractError, match="^core BadViewCore: memory_view panel"):
      plots.render_run(str(tmp_path))
  finally:
    del _CORES["bad_view_core"]
  assert not (tmp_path / "plots" / "example_seed0.png").exists()  # refused before drawing
