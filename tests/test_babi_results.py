"""benchmarks/babi_results.py: tables from results.json to stdout; --publish replaces only the
marked block of the published results file."""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "benchmarks"))
import babi_results  # noqa: E402


def _results(errors, label="PE+LS+RN", setting="en", mode="joint"):
  """A results.json as the babi_memnn family writes it, for tasks 1..len(errors)."""
  tasks = list(range(1, len(errors) + 1))
  return {
      "label": label, "model": "memn2n", "setting": setting, "mode": mode, "num_hops": 3,
      "num_seeds": 2, "epochs": 90, "epochs_done": 90, "tasks": tasks, "missing_tasks": {},
      "best_test_error_pct": {str(t): e for t, e in zip(tasks, errors)},
      "best_mean_test_error_pct": sum(errors) / len(errors),
      "best_failed_tasks": sum(e > 5.0 for e in errors),
      "mean_test_error_pct_over_seeds": 9.5, "std_test_error_pct_over_seeds": 0.5,
      "wall_seconds": 3725.0, "machine": "test machine",
  }


def _write(directory: pathlib.Path, results) -> str:
  directory.mkdir()
  (directory / "results.json").write_text(json.dumps(results))
  return str(directory)


def test_tables_name_rows_quote_the_paper_and_replace_only_the_marked_block(tmp_path, capsys):
  first = _write(tmp_path / "a", _results([0.0, 20.0, 1.0]))
  second = _write(tmp_path / "b", _results([2.0, 6.0, 9.0], label="BoW", mode="per_task"))
  readme = tmp_path / "results.md"
  readme.write_text("head\n<!-- study:start -->\nold table\n<!-- study:end -->\ntail\n")
  assert babi_results.main([first, second, "--publish", "--results_md", str(readme), "--block",
                            "study", "--names", "recipe one;recipe two", "--title", "Study."]) == 0
  text = readme.read_text()
  assert text.startswith("head\n<!-- study:start -->\nStudy.") and text.endswith(
      "<!-- study:end -->\ntail\n")
  assert "old table" not in text
  rows = [line for line in text.splitlines() if line.startswith("| recipe")]
  # Summary rows (names as given): mean 7.0 with 1 failed task (joint, paper 12.4 / 11); 5.7 with 2 (BoW, 25.1).
  assert rows[0].startswith("| recipe one | 3 | 2 | 90 | 7.0 | 1 | 9.5 +/- 0.5 | 1h02m | 12.4 / 11 |")
  assert rows[1].startswith("| recipe two | 3 | 2 | 90 | 5.7 | 2 |") and rows[1].endswith("| 25.1 |")
  assert "| 2 | 20.0 | 6.0 |" in text                                  # per-task table, task 2
  assert "| 4 | - | - |" in text                                     # tasks not run: "-"
  assert "Study." in capsys.readouterr().out
  before = readme.read_text()
  babi_results.main([first])                                         # default name counts tasks
  assert "| MemN2N PE+LS+RN joint 1k (3 tasks) | 3 |" in capsys.readouterr().out
  assert readme.read_text() == before                                # nothing written unasked


def test_bad_arguments_give_one_line(tmp_path, capsys):
  run = _write(tmp_path / "a", _results([1.0]))
  assert babi_results.main([run, "--names", "x;y"]) == 1
  assert "--names has 2 names for 1 runs" in capsys.readouterr().err
  assert babi_results.main([str(tmp_path / "missing")]) == 1
  assert "no results.json" in capsys.readouterr().err
  missing_block = tmp_path / "results.md"
  missing_block.write_text("no markers\n")
  assert babi_results.main([run, "--publish", "--results_md", str(missing_block)]) == 1
  assert "needs exactly one <!-- babi-results:start -->" in capsys.readouterr().err
  assert missing_block.read_text() == "no markers\n"
