"""benchmarks/xl_eval_speed.py: the FLOPs counted from each path's jaxpr equal the closed form."""
import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "xl_eval_speed.py"
_SPEC = importlib.util.spec_from_file_location("xl_eval_speed", _PATH)
xl_eval_speed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(xl_eval_speed)


# A = 8: the chunks divide A (behind `slow`, 15 s); A = 10: a ragged first chunk.
@pytest.mark.parametrize("length", [pytest.param(8, marks=pytest.mark.slow), 10])
def test_counted_matmul_flops_equal_the_closed_form(length):
  args = xl_eval_speed._parse(["--num_layers=2", "--d_model=8", "--num_heads=2", "--d_ff=12",
                               "--vocab_size=5", "--seg_len=4"])
  paths = xl_eval_speed.build_paths(args, length)
  for name, (fn, fn_args, tokens_per_call) in paths.items():
    counted = xl_eval_speed.count_flops(fn, *fn_args) / tokens_per_call
    expected = xl_eval_speed.closed_form_flops(name, length, 4, 2, 8, 12, 5)
    assert counted == pytest.approx(expected, rel=1e-12), name


def test_cached_path_does_not_reproject_the_memory():
  """Per segment the cached path's FLOPs grow with A only through attention, 6 q w per key."""
  args = xl_eval_speed._parse(["--num_layers=1", "--d_model=8", "--num_heads=2", "--d_ff=12",
                               "--vocab_size=5", "--seg_len=4"])
  short, long = (xl_eval_speed.build_paths(args, length)["xl_cached"] for length in (8, 16))
  per_segment = [xl_eval_speed.count_flops(fn, *fn_args) for fn, fn_args, _ in (short, long)]
  assert per_segment[1] - per_segment[0] == 6 * 4 * (16 - 8) * 8


def test_benchmark_rows_and_readme_table(tmp_path, capsys):
  """A tiny end-to-end run: every path timed, ratios consistent, the README table printed back."""
  args = xl_eval_speed._parse(["--num_layers=1", "--d_model=8", "--num_heads=2", "--d_ff=12",
                               "--vocab_size=5", "--seg_len=4", "--lengths=8", "--repeats=1",
                               "--min_seconds=0"])
  (row,) = xl_eval_speed.benchmark(args)
  assert row["speedup_xl_hidden"] == pytest.approx(row["vanilla_ms"] / row["xl_hidden_ms"])
  assert row["cached_over_hidden"] == pytest.approx(row["xl_hidden_ms"] / row["xl_cached_ms"])
  low, high = row["cached_over_hidden_paired_range"]
  assert low <= row["cached_over_hidden_paired"] <= high  # one round: all three equal
  assert row["cached_over_hidden_paired"] == pytest.approx(row["cached_over_hidden"])
  assert row["clock"] == "cpu"  # CPU time on the CPU backend (--clock=auto)
  # Memory: XL carries layers x mem_len x d_model floats (+ valid flags); the cached path
  # twice that (keys and values) plus the position keys; vanilla carries nothing.
  layers, mem_len, width, klen = 1, 8 - 4, 8, 8
  assert row["vanilla_state_mib"] == 0
  assert row["xl_hidden_state_mib"] * 2**20 == layers * mem_len * width * 4 + mem_len
  assert row["xl_cached_state_mib"] * 2**20 == (2 * layers * mem_len * width * 4 + mem_len
                                                + layers * (klen + 1) * width * 4)
  wall_args = xl_eval_speed._parse(["--num_layers=1", "--d_model=8", "--num_heads=2", "--d_ff=12",
                                    "--vocab_size=5", "--seg_len=4", "--clock=wall"])
  assert xl_eval_speed.clock_of(wall_args) == "wall"
  table = xl_eval_speed.readme_table([row]).splitlines()
  assert len(table) == 3 and table[2].startswith("| 8 | ")
  assert f"**{row['cached_over_hidden']:.3f}x**" in table[2]
  assert table[2].endswith(f"| {row['cached_over_hidden_paired']:.2f}x ({low:.2f}-{high:.2f}) |")


_X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse4_2 avx avx2 avx512f avx512bw

processor\t: 1
cpu family\t: 99
model name\t: another
"""
_ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes
CPU implementer\t: 0x41
"""


def test_machine_names_the_processor_and_its_widest_vector_extension(tmp_path):
  """benchmarks/machine.py, which every evaluation-speed table's header and JSON record."""
  machine = xl_eval_speed.machine
  x86, arm = tmp_path / "x86", tmp_path / "arm"
  x86.write_text(_X86_CPUINFO)
  arm.write_text(_ARM_CPUINFO)
  info = machine.cpu_info(str(x86))
  # The first processor only; avx512f is reported, not the narrower avx2.
  assert info == {"model_name": "AMD EPYC", "family": "25", "model": "17", "vector": "avx512f"}
  assert machine.describe(info) == "AMD EPYC (family 25, model 17, avx512f)"
  arm_info = machine.cpu_info(str(arm))
  assert arm_info["vector"] == "asimd" and arm_info["family"] == ""
  missing = machine.cpu_info(str(tmp_path / "absent"))
  assert missing["vector"] == "" and machine.describe(missing) == missing["model_name"]
