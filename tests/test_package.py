"""memjax as a package: the wheel's metadata (dependencies, extras, console scripts, version),
the pinned requirements inside the declared ranges, configs loading from any folder, and the
published headline figures rendered from one file.

Building the wheel takes about 15 s (pip builds it in an isolated environment with the
setuptools of pyproject.toml's [build-system], as `pip install .` does).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement

import memjax
from memjax import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = {"memjax-train": "memjax.cli:train", "memjax-visualize": "memjax.cli:visualize",
           "memjax-sample": "memjax.cli:sample"}


def _pyproject():
  return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  """A wheel built from a copy of what the wheel holds (others may be editing the checkout)."""
  source = tmp_path_factory.mktemp("source")
  for name in ("pyproject.toml", "README.md", "LICENSE"):
    shutil.copy(ROOT / name, source / name)
  shutil.copytree(ROOT / "memjax", source / "memjax",
                  ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
  out = tmp_path_factory.mktemp("wheel")
  result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source),
                           "-w", str(out)], capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  (path,) = out.glob("memjax-*.whl")
  return path


@pytest.mark.xdist_group("wheel")
def test_wheel_lists_dependencies_extras_console_scripts_and_the_version(wheel):
  with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = archive.read(info).decode()
    entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
  assert f"Version: {memjax.__version__}" in metadata.splitlines()
  assert wheel.name.startswith(f"memjax-{memjax.__version__}-")
  requires = [line.split(": ", 1)[1] for line in metadata.splitlines()
              if line.startswith("Requires-Dist: ")]
  names_required = {Requirement(r).name.lower().replace("_", "-") for r in requires}
  for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "chex", "absl-py",
               "ml-collections", "tensorflow-datasets", "matplotlib", "tensorboardx", "numpy"):
    assert name in names_required, f"{name} is not a dependency of the wheel"
  extras = {line.split(": ", 1)[1] for line in metadata.splitlines()
            if line.startswith("Provides-Extra: ")}
  assert {"gpu", "tpu", "tensorboard", "dev"} <= extras
  assert any(r.startswith("jax[cuda12]") and 'extra == "gpu"' in r for r in requires)
  assert any(r.startswith("jax[tpu]") and 'extra == "tpu"' in r for r in requires)
  assert "License-Expression: Apache-2.0" in metadata
  for script, target in SCRIPTS.items():
    assert f"{script} = {target}" in entry_points
  assert "memjax/cli.py" in names and "memjax/config_helpers.py" in names
  assert not [n for n in names if n.startswith(("configs/", "tests/", "experiments/"))]


def test_the_console_scripts_and_the_version_come_from_the_code():
  project = _pyproject()["project"]
  assert project["scripts"] == SCRIPTS
  assert "version" in project["dynamic"]
  assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {
      "attr": "memjax.__version__"}
  for target in SCRIPTS.values():
    assert callable(getattr(cli, target.split(":")[1]))
  changelog = (ROOT / "CHANGELOG.md").read_text()
  assert f"## {memjax.__version__}" in changelog
  assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_the_pinned_requirements_lie_inside_the_declared_ranges():
  """requirements.txt is the tested set; pyproject.toml's ranges must admit it."""
  declared = {}
  project = _pyproject()["project"]
  for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
    requirement = Requirement(line)
    declared[requirement.name.lower().replace("_", "-")] = requirement
  pins = {}
  for line in (ROOT / "requirements.txt").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
      requirement = Requirement(line)
      (spec,) = requirement.specifier
      pins[requirement.name.lower().replace("_", "-")] = spec.version
  for name, requirement in declared.items():
    assert name in pins, f"{name} is declared in pyproject.toml but not pinned in requirements.txt"
    assert requirement.specifier.contains(pins[name]), (
        f"{name}=={pins[name]} (requirements.txt) is outside {requirement} (pyproject.toml)")


def test_configs_load_from_any_folder(tmp_path):
  """The configs' `configs/` package is found from the file's own path, not the cwd."""
  assert cli.config_root(str(ROOT / "configs" / "copy_dnc.py")) == str(ROOT)
  assert cli.config_root(str(ROOT / "examples" / "copy_delta_memory_config.py") + ":x") == str(ROOT)
  assert cli.config_root(str(tmp_path / "mine.py")) is None
  # memjax importable as an installed package is, the checkout (and so `configs`) not on sys.path.
  site = tmp_path / "site"
  site.mkdir()
  (site / "memjax").symlink_to(ROOT / "memjax")
  config = ROOT / "configs" / "copy_dnc.py"
  code = ("import importlib.util as u; from memjax import cli; "
          f"cli._prepare(['memjax-train', '--config={config}']); "
          f"s = u.spec_from_file_location('c', '{config}'); "
          "m = u.module_from_spec(s); s.loader.exec_module(m); print(m.get_config().model.name)")
  env = dict(os.environ, PYTHONPATH=str(site))
  result = subprocess.run([sys.executable, "-P", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == "dnc"


def test_the_headline_figures_have_one_source():
  """README.md's and docs/results.md's headline blocks are benchmarks/headline_results.py's
  rendering of docs/results.json, and each figure in it appears in a table of the docs."""
  sys.path.insert(0, str(ROOT / "benchmarks"))
  try:
    import headline_results
  finally:
    sys.path.remove(str(ROOT / "benchmarks"))
  results = headline_results.load()
  for path, prefix in headline_results.targets():
    text = path.read_text()
    block = text.split(headline_results.START)[1].split(headline_results.END)[0]
    assert block.strip() == headline_results.table(results, prefix).strip(), (
        f"{path.name}'s headline block is stale: run python benchmarks/headline_results.py "
        "--publish")
  tables = (ROOT / "docs" / "results.md").read_text().split(headline_results.END)[-1]
  for entry in results["systems"]:
    for figure in re.findall(r"\d[\d,]*\.\d+%?|\d+x", entry["result"]):
      assert figure in tables, f"{entry['system']}: {figure} is in no table of docs/results.md"
