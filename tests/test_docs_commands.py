"""Every shell command in README.md and docs/*.md runs as written on a fresh clone.

Commands are the lines of ```bash blocks (```text blocks are output or need a cluster, and are
not commands). The fast tests check each command without running it: its script exists, its
config file and argument load, its `--config.a.b` overrides name real keys, its `--import`
files and flags exist. Blocks marked with a `<!-- runnable -->` line just above them are also
run, shortened by appended flags (`--config.train.num_steps=2`): the README's in the default
suite, the docs' behind `slow`.
"""
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
from typing import List, NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
RUNNABLE = "<!-- runnable -->"

# Flags of each launcher besides the config's own (`--config.*`) and absl's.
_ABSL = {"verbosity", "v", "logtostderr", "alsologtostderr", "helpfull", "help"}
_FLAGS = {
    "experiments/train.py": {"config", "workdir", "import", "distributed", "coordinator_address",
                             "num_processes", "process_id"},
    "experiments/visualize.py": {"workdir", "length", "seed_index", "all_slots", "import"},
    "experiments/sample.py": {"workdir", "prompt", "prompt_length", "length", "temperature",
                              "seed", "import"},
    "run.py": {"config", "workdir"},
}
_CONSOLE_SCRIPTS = {"memjax-train": "experiments/train.py",
                    "memjax-visualize": "experiments/visualize.py",
                    "memjax-sample": "experiments/sample.py"}


class Command(NamedTuple):
  page: str
  line: int
  text: str
  runnable: bool
  block: int  # the line of its block's opening fence


def commands(pages=PAGES) -> List[Command]:
  """Each command of each ```bash block: continuation lines joined, `&&` chains split."""
  found = []
  for page in pages:
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
      if lines[index].strip() != "```bash":
        index += 1
        continue
      runnable = index > 0 and lines[index - 1].strip() == RUNNABLE
      block = index + 1
      start, index = index + 1, index + 1
      pending, first = "", start
      while lines[index].strip() != "```":
        text = lines[index]
        if not pending:
          first = index + 1
        if text.rstrip().endswith("\\"):
          pending += text.rstrip()[:-1] + " "
        else:
          full = (pending + text).strip()
          pending = ""
          for part in full.split("&&"):
            if part.strip() and not part.strip().startswith("#"):
              found.append(Command(page.name, first, part.strip(), runnable, block))
        index += 1
      index += 1
  return found


def _words(command: Command) -> List[str]:
  return shlex.split(command.text, comments=True)


def _program(words: List[str]) -> str:
  """The script a command runs, as a repo path ('pip', 'pytest' for the setup and test lines)."""
  if words[0] in _CONSOLE_SCRIPTS:
    return _CONSOLE_SCRIPTS[words[0]]
  if words[0] == "python" and words[1:3] == ["-m", "pytest"]:
    return "pytest"
  if words[0] == "python":
    return words[1]
  return words[0]


def _flags(words: List[str]) -> List[str]:
  return [word for word in words if word.startswith("--")]


ALL = commands()


def test_the_readme_starts_with_the_setup_and_test_commands_and_ci_runs_the_same():
  readme = ROOT / "README.md"
  assert readme.read_text().splitlines()[2] == "```bash"    # right under the title
  head = [" ".join(_words(c)) for c in commands([readme])]
  assert head[:3] == ["pip install -r requirements.txt", "python run.py", "python -m pytest -q"]
  ci = (ROOT / ".ci" / "run").read_text().splitlines()
  assert "python -m pip install -q -r requirements.txt" in ci
  assert "python -m pytest -q" in ci   # exactly the README's test command, nothing appended
  assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_commands_were_found_and_some_are_runnable():
  assert len(ALL) >= 15
  assert len({(c.page, c.block) for c in ALL if c.runnable}) >= 2


@pytest.mark.parametrize("command", ALL, ids=[f"{c.page}:{c.line}" for c in ALL])
def test_each_command_names_real_files_flags_and_config_keys(command):
  """Without running it: the script, config, config argument, overrides and flags exist."""
  from memjax import launch
  words = _words(command)
  program = _program(words)
  if program in ("pip", "pytest"):
    return
  if program == "bash":
    assert (ROOT / words[1]).is_file(), f"{command.page}:{command.line}: no {words[1]}"
    return
  if program == "tensorboard":
    return
  assert (ROOT / program).is_file(), f"{command.page}:{command.line}: no script {program}"
  flags = _flags(words)
  if program in _FLAGS:
    for flag in flags:
      name = flag[2:].split("=", 1)[0]
      if not name.startswith("config."):
        assert name in _FLAGS[program] | _ABSL, (
            f"{command.page}:{command.line}: {program} has no flag --{name}")
  for flag in flags:
    if flag.startswith("--import="):
      assert (ROOT / flag.split("=", 1)[1]).is_file(), f"{command.page}:{command.line}: {flag}"
  if program in ("experiments/train.py", "run.py"):
    argv = [program] + [f"--config={ROOT / f.split('=', 1)[1]}" if f.startswith("--config=")
                        else f for f in flags]
    if not any(f.startswith("--config=") for f in flags):
      argv.insert(1, f"--config={ROOT / 'configs' / 'run_copy_ntm.py'}")
    for flag in flags:
      if flag.startswith("--import="):
        launch.run_imports([program, flag.replace("=", f"={ROOT}/", 1)])
    try:
      launch.check_config_overrides(argv, None)
    except SystemExit as error:
      pytest.fail(f"{command.page}:{command.line}: {error}")
  if program.startswith("benchmarks/") and program.endswith(".py"):
    text = (ROOT / program).read_text()
    for flag in flags:
      name = flag[2:].split("=", 1)[0]
      assert re.search(rf"[\"']--{name}[\"']|DEFINE_\w+\(\s*[\"']{name}[\"']", text), (
          f"{command.page}:{command.line}: {program} has no flag --{name}")


_SHORT = ["--config.train.num_steps=2", "--config.train.log_every=1",
          "--config.train.eval_every=2", "--config.train.checkpoint_every=2"]


def _shortened(command: Command, workdir: pathlib.Path) -> List[str]:
  words = _words(command)
  words = [re.sub(r"^--workdir=/tmp/", f"--workdir={workdir}/", w) for w in words]
  if words[0] == "python":
    words[0] = sys.executable
  if _program(_words(command)) == "experiments/train.py":
    words += _SHORT
  return words


_BLOCKS = sorted({(c.page, c.block) for c in ALL if c.runnable})


# The README's blocks run in the default suite (about 30 s); the docs' behind `slow` (about 50 s).
@pytest.mark.parametrize("block", [block if block[0] == "README.md"
                                   else pytest.param(block, marks=pytest.mark.slow)
                                   for block in _BLOCKS],
                         ids=[f"{page}:{line}" for page, line in _BLOCKS])
def test_runnable_blocks_run(block, tmp_path):
  """Each command of the block in order (a visualize follows its training), from the checkout,
  with /tmp workdirs moved under tmp_path."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for command in [c for c in ALL if (c.page, c.block) == block]:
    result = subprocess.run(_shortened(command, tmp_path), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (f"{command.page}:{command.line}: {command.text}\n"
                                    f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def _anchors(page: pathlib.Path) -> set:
  """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
  slugs = set()
  for line in page.read_text().splitlines():
    if line.startswith("#"):
      title = line.lstrip("#").strip().lower()
      slugs.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
  return slugs


def test_relative_links_name_files_and_headings_that_exist():
  broken = []
  for page in PAGES:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
      if re.match(r"[a-z]+:", target):
        continue
      path, _, anchor = target.partition("#")
      linked = (page.parent / path).resolve() if path else page
      if not linked.exists():
        broken.append(f"{page.name}: {target}: no such file")
      elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
        broken.append(f"{page.name}: {target}: no such heading")
  assert not broken, "\n".join(broken)


def test_results_scripts_write_the_published_tables_only_when_asked(tmp_path):
  """benchmarks/kbqa_results.py prints; only --publish rewrites the marked block of the
  published results file, and never the README."""
  run = tmp_path / "run"
  run.mkdir()
  final = {"test_hits1_hop1": 1.0, "test_hits1_hop2": 0.5, "test_hits1_hop3": 0.25,
           "test_hits1_hopall": 0.6, "test_heldout_hits1_hopall": 0.4}
  (run / "results.json").write_text(json.dumps({
      "task": "synthetic_kbqa", "model": "kv_memory", "final": final, "num_triples": 1234,
      "steps": 7, "wall_seconds": 90.0}))
  published = tmp_path / "results.md"
  published.write_text("head\n<!-- kbqa-results:start -->\nold\n<!-- kbqa-results:end -->\ntail\n")
  readme = (ROOT / "README.md").read_text()
  script = [sys.executable, str(ROOT / "benchmarks" / "kbqa_results.py"), f"--workdirs={run}",
            f"--results_md={published}"]
  printed = subprocess.run(script, capture_output=True, text=True, timeout=120)
  assert printed.returncode == 0, printed.stderr
  assert "| Key-value memory | 100.0% | 50.0% | 25.0% | 60.0% | 40.0% | 1,234 triples |" in (
      printed.stdout)
  assert "old" in published.read_text()
  assert subprocess.run(script + ["--publish"], capture_output=True, timeout=120).returncode == 0
  text = published.read_text()
  assert "old" not in text and text.startswith("head\n") and text.endswith("end -->\ntail\n")
  assert "| Key-value memory | 100.0% |" in text
  assert (ROOT / "README.md").read_text() == readme
