"""The headline table of memjax's memory systems, rendered from docs/results.json.

    python benchmarks/headline_results.py                 # prints the table
    python benchmarks/headline_results.py --publish       # maintainers: rewrites the marked
                                                          # blocks of README.md, docs/results.md

docs/results.json holds each system's headline figures once; the README's "What is inside"
table and the headline block of docs/results.md are this script's rendering of it, between
`<!-- headline:start -->` and `<!-- headline:end -->` lines (tests check that both match, and
that each figure appears in one of docs/results.md's tables).
"""
import argparse
import json
import pathlib
import sys
from typing import Dict, List, Optional

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "docs" / "results.json"
START, END = "<!-- headline:start -->", "<!-- headline:end -->"


def load(path: pathlib.Path = RESULTS_JSON) -> Dict:
  return json.loads(path.read_text())


def table(results: Dict, link_prefix: str) -> str:
  """Markdown table; `link_prefix` is the path of docs/results.md from the page it goes into."""
  lines = ["| memory system | paper | configs | headline result (paper's figure) | details |",
           "|---|---|---|---|---|"]
  for entry in results["systems"]:
    configs = ", ".join(f"`{c}`" for c in entry["configs"])
    lines.append(f"| {entry['system']} | {entry['paper']} | {configs} | {entry['result']} "
                 f"(paper: {entry['paper_figure']}) | "
                 f"[{entry['measured']}]({link_prefix}#{entry['anchor']}) |")
  lines.append("")
  lines.append(f"Measured on a {results['machine']}; the dates link to each table, with how "
               "it was run.")
  return "\n".join(lines)


def replace_block(text: str, block: str, name: str) -> str:
  if text.count(START) != 1 or text.count(END) != 1:
    raise ValueError(f"{name} needs exactly one {START} line and one {END} line")
  head, rest = text.split(START)
  return f"{head}{START}\n{block}\n{END}{rest.split(END, 1)[1]}"


def targets(root: pathlib.Path = ROOT) -> List:
  """(file, its link to docs/results.md) of every page holding the headline block."""
  return [(root / "README.md", "docs/results.md"), (root / "docs" / "results.md", "results.md")]


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--results_json", default=str(RESULTS_JSON))
  parser.add_argument("--publish", action="store_true",
                      help="maintainers: rewrite the headline blocks of README.md and "
                           "docs/results.md")
  args = parser.parse_args(argv)
  results = load(pathlib.Path(args.results_json))
  if not args.publish:
    print(table(results, "docs/results.md"))
    return 0
  for path, prefix in targets():
    try:
      path.write_text(replace_block(path.read_text(), table(results, prefix), str(path)))
    except ValueError as error:
      print(f"error: --publish: {error}", file=sys.stderr)
      return 1
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
