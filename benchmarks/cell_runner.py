"""Training runs of the one loop as subprocesses, a few at a time: the grids of
memory_zoo.py and newer_memories.py.

Each run is `experiments/train.py --workdir=<workdir>/<path> <args>` with its output in
`<path>/run_log.txt`; a run whose folder holds a results.json is done and skipped, so a
killed grid relaunched with the same command resumes (an unfinished run from its last
checkpoint, as every training run does). With `parallel > 1` each run is pinned to a
CPU core of its own (`run_one`), which on a 2-core machine beats one run on two threads
for models this small. Every launch that trained something appends its wall
clock to `<workdir>/launches.jsonl`, so a report can say how long the grid took.
"""
import concurrent.futures
import json
import os
import queue
import subprocess
import sys
import time
from typing import NamedTuple, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Run(NamedTuple):
  """One training run: its folder under the grid's workdir and train.py's other flags."""
  path: str
  args: Tuple[str, ...]


def is_done(run: Run, workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, run.path, "results.json"))


def run_one(run: Run, workdir: str, cores: Optional["queue.Queue"] = None):
  """Trains `run` in a subprocess; (run, seconds, return code, last log lines).

  With `cores` (a queue of CPU ids), the run takes one and is pinned to it: XLA sizes its
  CPU thread pool from the cores it may use, so a pinned run computes on one thread and
  does not fight the others for theirs (flags alone left each run with a 2-thread Eigen
  pool on a 2-core machine: 4 busy threads on 2 cores, half the time in the kernel).
  """
  run_dir = os.path.join(workdir, run.path)
  os.makedirs(run_dir, exist_ok=True)
  env = dict(os.environ)
  # Runs of one model with other seeds compile the same programs: compiled once, read back
  # from this cache by the others (JAX's persistent compilation cache).
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(workdir, "xla_cache"))
  env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
  command = [sys.executable, os.path.join(ROOT, "experiments", "train.py"),
             f"--workdir={run_dir}", *run.args]
  if cores is not None:  # Eigen's work in the calling thread: no pool thread to hand it to
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
  core = cores.get() if cores is not None else None
  pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
  start = time.time()
  log_path = os.path.join(run_dir, "run_log.txt")
  try:
    with open(log_path, "a") as log:
      code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT, preexec_fn=pin).returncode
  finally:
    if core is not None:
      cores.put(core)
  seconds = time.time() - start
  with open(log_path) as log:
    tail = log.read().splitlines()[-3:]
  return run, seconds, code, tail


def run_all(runs: Sequence[Run], workdir: str, parallel: int) -> None:
  """Trains the runs not yet done, `parallel` at a time, in the order given."""
  todo = [r for r in runs if not is_done(r, workdir)]
  print(f"{len(runs) - len(todo)} of {len(runs)} runs done; training {len(todo)}, "
        f"{parallel} at a time", flush=True)
  if not todo:
    return
  os.makedirs(workdir, exist_ok=True)
  start = time.time()
  launch = dict(start=time.strftime("%Y-%m-%d %H:%M:%S"), cells=len(todo), parallel=parallel)
  cores = None
  available = sorted(os.sched_getaffinity(0))
  if 1 < parallel <= len(available):  # one core per run
    cores = queue.Queue()
    for core in available[:parallel]:
      cores.put(core)
  failures = 0
  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    futures = [pool.submit(run_one, r, workdir, cores) for r in todo]
    for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
      run, seconds, code, tail = future.result()
      status = "ok" if code == 0 else f"FAILED (exit {code}): " + " / ".join(tail)
      headline = ""
      results = os.path.join(workdir, run.path, "results.json")
      if code == 0 and os.path.exists(results):
        headline = json.load(open(results)).get("headline", "")
      print(f"[{done}/{len(todo)}, {time.time() - start:.0f} s] {run.path}: {seconds:.0f} s "
            f"{status} {headline}", flush=True)
      failures += code != 0
      if failures >= 3 and failures == done:  # a broken setup, not one bad run
        for other in futures:
          other.cancel()
        raise SystemExit(f"the first {failures} runs failed; see their run_log.txt")
  launch.update(end=time.strftime("%Y-%m-%d %H:%M:%S"), wall_seconds=time.time() - start)
  with open(os.path.join(workdir, "launches.jsonl"), "a") as f:  # a relaunch adds a line
    f.write(json.dumps(launch) + "\n")


def launches(workdir: str):
  """The grid's launches that trained runs (launches.jsonl), oldest first."""
  path = os.path.join(workdir, "launches.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def wall_clock_text(runs) -> str:
  """'42.0 minutes of wall clock, <start> to <end> (2 launches, 84 cells, 2 at a time)'."""
  if not runs:
    return ""
  wall = sum(r["wall_seconds"] for r in runs)
  return (f"{wall / 60:.1f} minutes of wall clock, {runs[0]['start']} to {runs[-1]['end']} "
          f"({len(runs)} launch{'es' if len(runs) > 1 else ''}, "
          f"{sum(r['cells'] for r in runs)} cells, {runs[0]['parallel']} at a time)")
