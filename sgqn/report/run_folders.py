"""Run directories for a report: find them, load them, and check which can be averaged.

A run directory is what ``python -m sgqn.train`` writes: ``config.json`` (the config and the
run record), ``evals/step*.json`` (periodic evaluations) and ``results.json`` (the final
evaluation, the mark of a finished run); see :mod:`sgqn.results`. :func:`check_runs` keeps, per
(task, algorithm), the runs that share every hyper-parameter but the seed and the
run-bookkeeping fields (:data:`IGNORED_FIELDS`), the evaluated step and the modes, and says
why each other run is left out.
"""

from __future__ import annotations

import glob
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmcgb.protocol.results import (
    EVALS_DIR,
    FINAL_NAME,
    RECORD_NAME,
    Evaluation,
    ResultsError,
    read_evaluations,
    read_final,
)

__all__ = [
    "ReportError",
    "Run",
    "Skipped",
    "IGNORED_FIELDS",
    "RECORD_NAME",
    "find_run_dirs",
    "load_run",
    "check_runs",
    "majority",
]

# Config fields that may differ between the seeds of one experiment: the seed itself, where
# and how a run was executed (overlap and compile change speed, not the algorithm), and what
# it writes besides results. The run length is compared as the record's total_steps (steps
# and frames are two ways of asking for it).
IGNORED_FIELDS = (
    "seed",
    "run_dir",
    "device",
    "threads",
    "dry_run",
    "overlap",
    "compile",
    "resume",
    "preset",
    "save_video",
    "steps",
    "frames",
)
# Protocol fields that should agree across the algorithms of one task for a fair comparison.
_PROTOCOL_FIELDS = ("env", "total_steps", "action_repeat", "frame_stack", "image_size")
_GLOB_CHARS = re.compile(r"[*?[]")


class ReportError(ValueError):
    """Input the report cannot use; the message names the problem and the fix."""


class _SkipRun(Exception):
    """A run that cannot be included; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Run:
    """One run directory, loaded.

    Attributes:
        path: the run directory.
        config: its hyper-parameters (``config.json``'s config, plus ``total_steps``).
        evaluation: the evaluation the tables report (final, or at ``--step``).
        curve: its periodic evaluations by step (the learning curve).
    """

    path: Path
    config: dict[str, Any]
    evaluation: Evaluation
    curve: tuple[Evaluation, ...]

    @property
    def task(self) -> str:
        return self.evaluation.results[0].task

    @property
    def algo(self) -> str:
        return self.evaluation.results[0].algo

    @property
    def seed(self) -> int:
        return self.evaluation.results[0].seed

    @property
    def step(self) -> int:
        return self.evaluation.step

    @property
    def metric(self) -> str:
        """``success`` for runs whose episodes record success (robot tasks), else ``return``."""
        return "success" if self.evaluation.results[0].successes is not None else "return"


@dataclass(frozen=True)
class Skipped:
    """A run left out of the report, and why."""

    path: Path
    reason: str


def _is_run_dir(path: Path) -> bool:
    if (path / FINAL_NAME).is_file() or (path / EVALS_DIR).is_dir():
        return True
    try:
        return isinstance(json.loads((path / RECORD_NAME).read_text()).get("config"), dict)
    except (OSError, ValueError, AttributeError):
        return False


def find_run_dirs(patterns: Iterable[str | Path]) -> list[Path]:
    """Run directories named by ``patterns`` (paths or globs) or found below them.

    Raises:
        ReportError: a pattern matches nothing, or no run directory is found at all.
    """
    found: dict[Path, Path] = {}
    for pattern in map(str, patterns):
        matches = sorted(glob.glob(pattern)) if _GLOB_CHARS.search(pattern) else [pattern]
        matches = [m for m in matches if Path(m).exists()]
        if not matches:
            raise ReportError(f"{pattern!r} matches no file or folder; check the path")
        for match in map(Path, matches):
            if _is_run_dir(match):
                candidates = [match]
            else:
                markers = [*match.rglob(RECORD_NAME), *match.rglob(FINAL_NAME)]
                candidates = sorted({m.parent for m in markers if _is_run_dir(m.parent)})
            for run in candidates:
                found.setdefault(run.resolve(), run)
    if not found:
        raise ReportError(
            f"no run directories in {[str(p) for p in patterns]}: a run directory holds "
            f"{RECORD_NAME} and {FINAL_NAME} (written by python -m sgqn.train)"
        )
    return sorted(found.values())


def _read_config(path: Path) -> dict[str, Any]:
    record_path = path / RECORD_NAME
    if not record_path.is_file():
        raise _SkipRun(
            f"no {RECORD_NAME} (written by python -m sgqn.train), so its hyper-parameters "
            "cannot be compared with the other runs'"
        )
    try:
        record = json.loads(record_path.read_text())
        config = dict(record["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _SkipRun(f"unreadable {RECORD_NAME}: {error!r}") from error
    config["total_steps"] = record.get("total_steps")
    return config


def _steps_text(evaluations: Sequence[Evaluation]) -> str:
    steps = [e.step for e in evaluations]
    if len(steps) > 6:
        return f"{steps[0]}, {steps[1]}, ..., {steps[-1]} ({len(steps)} evaluations)"
    return ", ".join(map(str, steps)) or "none"


def _chosen_evaluation(
    path: Path, config: dict[str, Any], curve: Sequence[Evaluation], step: int | None, source: str
) -> Evaluation:
    if source == "eval":
        evaluations = read_evaluations(path, source="eval")
        if not evaluations:
            raise _SkipRun(f"no evaluation by python -m sgqn.eval ({EVALS_DIR}/eval_step*.json)")
    elif step is None:
        final = read_final(path)
        if final is None:
            total = config.get("total_steps")
            last = f"last evaluation at step {curve[-1].step}" if curve else "no evaluation yet"
            raise _SkipRun(f"unfinished: no {FINAL_NAME} ({last}, of {total} steps)")
        return final
    else:
        evaluations = list(curve)
    if step is None:
        return evaluations[-1]
    for evaluation in evaluations:
        if evaluation.step == step:
            return evaluation
    raise _SkipRun(f"no evaluation at step {step} (evaluated at steps {_steps_text(evaluations)})")


def load_run(path: str | Path, step: int | None = None, source: str = "train") -> Run | Skipped:
    """Load a run directory, or say why it cannot be used.

    Args:
        path: the run directory.
        step: report the evaluation at this agent step; None: the final one.
        source: ``train`` (``results.json`` and ``evals/step*.json``) or ``eval`` (the
            evaluations written by ``python -m sgqn.eval``).
    """
    path = Path(path)
    try:
        config = _read_config(path)
        curve = tuple(read_evaluations(path))
        evaluation = _chosen_evaluation(path, config, curve, step, source)
    except (_SkipRun, ResultsError) as error:
        return Skipped(path, str(error))
    facts = {
        "algo": {r.algo for r in evaluation.results},
        "seed": {r.seed for r in evaluation.results},
        "task": {r.task for r in evaluation.results},
    }
    for name, values in facts.items():
        if len(values) != 1:
            return Skipped(path, f"its results mix several values of {name}: {sorted(values)}")
    run = Run(path, config, evaluation, curve)
    for name, value in (("algo", run.algo), ("seed", run.seed)):
        if name in config and config[name] != value:
            return Skipped(
                path, f"its results say {name}={value!r} but {RECORD_NAME} says {config[name]!r}"
            )
    return run


# --- checks ----------------------------------------------------------------------------------


def _compared_config(run: Run, ignore: Sequence[str]) -> dict[str, Any]:
    config = {k: v for k, v in run.config.items() if k not in ignore}
    # Free-form notes (e.g. the overlay source) are compared without their parenthesised
    # details, which hold machine-specific paths and counts.
    if isinstance(config.get("extra"), dict):
        config["extra"] = {
            k: re.sub(r"\s*\(.*\)", "", str(v)) for k, v in sorted(config["extra"].items())
        }
    return config


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def majority(runs: Sequence[Run], value) -> Any:
    """The most common value of ``value(run)``; ties go to the first run's (path order)."""
    counts = Counter(_key(value(run)) for run in runs)
    best = max(counts.values())
    return next(value(run) for run in runs if counts[_key(value(run))] == best)


def _config_differences(config: dict[str, Any], reference: dict[str, Any]) -> str:
    fields = sorted(set(config) | set(reference), key=str)
    diffs = [
        f"{k}={config.get(k)!r} (others: {reference.get(k)!r})"
        for k in fields
        if _key(config.get(k)) != _key(reference.get(k))
    ]
    return ", ".join(diffs)


def _check_group(
    runs: list[Run], ignore: Sequence[str]
) -> tuple[list[Run], list[Skipped], list[str]]:
    """Keep the runs of one (task, algorithm) that agree with the majority; say why not.

    The checks run in order (hyper-parameters, evaluated step, modes, then repeated seeds),
    each on the runs the previous ones kept, so a run that differs is named for its first
    difference, and a repeated seed is resolved among runs that agree on everything else.
    """
    label = f"{runs[0].algo} on {runs[0].task}"
    skipped: list[Skipped] = []
    kept = list(runs)

    def keep_majority(value, describe) -> None:
        nonlocal kept
        reference = majority(kept, value)
        others = sum(_key(value(r)) == _key(reference) for r in kept)
        still = []
        for run in kept:
            reason = describe(value(run), reference)
            if reason:
                skipped.append(
                    Skipped(run.path, f"{reason}, unlike {others} other run(s) of {label}")
                )
            else:
                still.append(run)
        kept = still

    keep_majority(
        lambda run: _compared_config(run, ignore),
        lambda mine, ref: (
            f"hyper-parameters differ: {_config_differences(mine, ref)}" if mine != ref else ""
        ),
    )
    keep_majority(
        lambda run: run.step,
        lambda mine, ref: f"evaluated at step {mine}, not {ref}" if mine != ref else "",
    )
    keep_majority(
        lambda run: sorted(run.evaluation.modes),
        lambda mine, ref: (
            f"missing mode(s) {sorted(set(ref) - set(mine))}" if set(ref) - set(mine) else ""
        ),
    )
    seen: dict[int, Path] = {}
    unique = []
    for run in kept:
        if run.seed in seen:
            reason = f"seed {run.seed} of {label} is already in {seen[run.seed]}"
            skipped.append(Skipped(run.path, reason))
        else:
            seen[run.seed] = run.path
            unique.append(run)
    notes = []
    modes = set(majority(unique, lambda run: sorted(run.evaluation.modes)))
    extra = sorted({m for run in unique for m in run.evaluation.modes} - modes)
    if extra:
        notes.append(f"{label}: mode(s) {extra} that only some seeds have are left out")
    return unique, skipped, notes


def check_runs(
    runs: Sequence[Run], ignore: Sequence[str] = ()
) -> tuple[list[Run], list[Skipped], list[str]]:
    """Split runs into those that can be averaged and those that cannot.

    Within each (task, algorithm), the runs must share every hyper-parameter but the seed and
    :data:`IGNORED_FIELDS` (plus ``ignore``), the evaluated step and the modes, and have
    distinct seeds; where they do not, the majority is kept and the rest are skipped with
    the reason.

    Returns:
        (kept runs, skipped runs, notes): notes name protocol differences between the
        algorithms of a task, which do not stop a run from being averaged but make the
        columns of a row unequal.
    """
    ignore = tuple(IGNORED_FIELDS) + tuple(ignore)
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: str(r.path)):
        groups[(run.task, run.algo)].append(run)
    kept, skipped, notes = [], [], []
    for group in groups.values():
        group_kept, group_skipped, group_notes = _check_group(group, ignore)
        kept += group_kept
        skipped += group_skipped
        notes += group_notes
    notes += _protocol_notes(kept)
    return kept, skipped, notes


def _protocol_notes(runs: Sequence[Run]) -> list[str]:
    notes = []
    by_task: dict[str, dict[str, Run]] = defaultdict(dict)
    for run in runs:
        by_task[run.task].setdefault(run.algo, run)
    for task, by_algo in sorted(by_task.items()):
        for name in (*_PROTOCOL_FIELDS, "step", "eval_episodes"):
            values = {
                algo: run.step if name == "step" else run.config.get(name)
                for algo, run in by_algo.items()
            }
            if len({_key(v) for v in values.values()}) > 1:
                listed = ", ".join(f"{a} {v}" for a, v in sorted(values.items()))
                notes.append(f"{task}: the algorithms differ in {name} ({listed})")
    return notes
