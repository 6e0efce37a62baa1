"""Scoring bAbI: question errors from per-step predictions, and the paper's summary of many
seeds (best seed by validation, mean +/- std, failed tasks).
"""
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from memjax.data.babi import Bucket

FAILED_TASK_ERROR_PCT = 5.0  # the papers count a task as failed above 5% test error


def question_errors(split_buckets: Sequence[Tuple[Bucket, np.ndarray]],
                    tasks: Sequence[int]) -> np.ndarray:
  """`[num_seeds, len(tasks)]` percent of questions with any answer word wrong.

  Args:
    split_buckets: (bucket, predicted ids `[num_seeds, stories, length]`) pairs.
    tasks: task numbers of the columns (NaN for a task without questions here).
  """
  wrong_per_task = None
  count_per_task = np.zeros(len(tasks))
  column = {t: i for i, t in enumerate(tasks)}
  for bucket, predicted in split_buckets:
    s = bucket.stories
    num_seeds = predicted.shape[0]
    if wrong_per_task is None:
      wrong_per_task = np.zeros((num_seeds, len(tasks)))
    max_q = int(s.num_questions.max())
    step_wrong = (predicted != s.targets[None]) & s.mask[None]          # [K, n, T]
    story_ids, steps = np.nonzero(s.mask)
    keys = story_ids * max_q + s.question[story_ids, steps]
    question_wrong = np.zeros((num_seeds, s.num_stories * max_q), bool)
    for k in range(num_seeds):
      np.logical_or.at(question_wrong[k], keys, step_wrong[k, story_ids, steps])
    question_wrong = question_wrong.reshape(num_seeds, s.num_stories, max_q)
    real = np.arange(max_q)[None, :] < s.num_questions[:, None]           # [n, max_q]
    for task in np.unique(s.task):
      rows = s.task == task
      wrong_per_task[:, column[int(task)]] += (question_wrong[:, rows] & real[rows]).sum(axis=(1, 2))
      count_per_task[column[int(task)]] += real[rows].sum()
  if wrong_per_task is None:
    return np.full((1, len(tasks)), np.nan)
  with np.errstate(invalid="ignore", divide="ignore"):
    return 100.0 * wrong_per_task / count_per_task[None]


def summarize(test: np.ndarray, valid: np.ndarray, tasks: Sequence[int], joint: bool
              ) -> Dict[str, Any]:
  """Best seed by validation (one for a joint model, one per task otherwise) and mean +/- std.

  Args:
    test, valid: `[num_seeds, num_tasks]` error percentages.
    tasks: task numbers of the columns.
    joint: one model for all tasks (choose one seed by mean validation error).

  Raises:
    ValueError naming the split and task of a NaN error (a task without questions there):
    no seed is chosen, and no figure reported, from a NaN.
  """
  for split, errors in (("validation", valid), ("test", test)):
    nan_columns = np.nonzero(np.isnan(np.asarray(errors, np.float64)).any(axis=0))[0]
    if nan_columns.size:
      raise ValueError(f"the {split} error of bAbI task {tasks[int(nan_columns[0])]} is NaN "
                       f"(no {split} questions): no seed is chosen and no result reported "
                       "from it")
  if joint:
    best_seed = int(np.argmin(valid.mean(axis=1)))
    best = test[best_seed]
    best_seeds = [best_seed] * len(tasks)
  else:
    best_seeds = [int(s) for s in np.argmin(valid, axis=0)]
    best = test[best_seeds, np.arange(len(tasks))]
  per_seed_mean = test.mean(axis=1)
  per_seed_failed = (test > FAILED_TASK_ERROR_PCT).sum(axis=1)
  return {
      "best_seed": best_seeds,
      "best_test_error_pct": {str(t): float(e) for t, e in zip(tasks, best)},
      "best_mean_test_error_pct": float(best.mean()),
      "best_failed_tasks": int((best > FAILED_TASK_ERROR_PCT).sum()),
      "seed_mean_test_error_pct": per_seed_mean,
      "mean_test_error_pct_over_seeds": float(per_seed_mean.mean()),
      "std_test_error_pct_over_seeds": float(per_seed_mean.std()),
      "failed_tasks_per_seed": per_seed_failed,
      "test_error_pct_per_seed": {str(t): test[:, i] for i, t in enumerate(tasks)},
      "valid_error_pct_per_seed": {str(t): valid[:, i] for i, t in enumerate(tasks)},
  }
