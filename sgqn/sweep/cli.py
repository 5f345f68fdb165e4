"""``python -m sgqn.sweep``: create or resume a sweep and run it on Ray."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from sgqn.config import ConfigError
from sgqn.sweep.manifest import (
    MANIFEST_NAME,
    Manifest,
    SweepError,
    cell_state,
    env_id_of,
    parse_overrides,
    read_manifest,
    write_manifest,
)
from sgqn.sweep.resources import (
    GiB,
    NodeShape,
    RunResources,
    capacity,
    plan_resources,
    replay_bytes,
)

__all__ = ["main", "cli", "build_parser"]

_USAGE = """\
python -m sgqn.sweep --algos A [A ...] --envs E [E ...] --seeds S [S ...] [--set KEY=VALUE ...] --out DIR
       python -m sgqn.sweep --resume DIR
       (either form takes the Ray and resource options below)"""

_EPILOG = """\
examples:
  python -m sgqn.sweep --algos sgqn sac --envs WalkerWalk CartpoleSwingup --seeds 1 2 3 --out sweeps/table1
  python -m sgqn.sweep --resume sweeps/table1       # after a crash, a reboot, a preempted node
  python -m sgqn.report sweeps/table1               # the table of the finished runs

Each cell is an ordinary run directory, <DIR>/<Task>-<algo>-s<seed>; its console log is
<DIR>/logs/<Task>-<algo>-s<seed>.log.
Exit status: 0 every cell finished, 1 a cell failed, 2 bad arguments, 130 stopped (Ctrl-C)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sgqn.sweep",
        usage=_USAGE,
        description="Run algorithms x envs x seeds of sgqn.train on Ray, resumably.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grid = parser.add_argument_group("the grid (a new sweep)")
    grid.add_argument("--algos", nargs="+", metavar="ALGO", help="--algo values of sgqn.train")
    grid.add_argument(
        "--envs", nargs="+", metavar="ENV", help="tasks (WalkerWalk) or training env ids"
    )
    grid.add_argument("--seeds", nargs="+", type=int, metavar="SEED")
    grid.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override a run setting for every cell: --set steps=100000 eval_modes=train,videohard",
    )
    grid.add_argument("--out", type=Path, metavar="DIR", help="the sweep folder to create")
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue a sweep: run its unfinished cells"
    )
    ray = parser.add_argument_group("Ray")
    ray.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="a running Ray cluster (host:port or auto); default $RAY_ADDRESS, else a local "
        "Ray instance on this machine",
    )
    ray.add_argument(
        "--num-cpus", type=int, metavar="N", help="cores of the local instance (default: all)"
    )
    ray.add_argument(
        "--num-gpus", type=int, metavar="N", help="GPUs of the local instance (default: all)"
    )
    runs = parser.add_argument_group("per run (defaults follow the machine or cluster)")
    runs.add_argument(
        "--cpus-per-run", type=int, metavar="N", help="cores: torch threads and eval workers"
    )
    runs.add_argument(
        "--gpus-per-run",
        type=float,
        metavar="F",
        help="GPU fraction, e.g. 0.25 for four runs per GPU",
    )
    runs.add_argument(
        "--memory-per-run", type=float, metavar="GIB", help="host memory reserved per run, GiB"
    )
    runs.add_argument(
        "--max-concurrent", type=int, metavar="N", help="at most this many runs at once"
    )
    runs.add_argument(
        "--max-retries",
        type=int,
        default=3,
        metavar="N",
        help="retries of a failed run (default 3)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan; write and run nothing"
    )
    return parser


def _new_manifest(args: argparse.Namespace, argv: list[str]) -> Manifest:
    missing = [f"--{k}" for k in ("algos", "envs", "seeds", "out") if not getattr(args, k)]
    if missing:
        raise SweepError(f"a new sweep needs {', '.join(missing)} (or --resume DIR)")
    return Manifest(
        algos=tuple(args.algos),
        envs=tuple(env_id_of(e) for e in args.envs),
        seeds=tuple(args.seeds),
        overrides=parse_overrides(args.set),
        command=("python", "-m", "sgqn.sweep", *argv),
    )


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and any(getattr(args, k) for k in ("algos", "envs", "seeds", "set", "out")):
        raise SweepError("--resume DIR takes the grid from DIR/sweep.json; drop the grid flags")
    checks = [
        (args.cpus_per_run, lambda v: v >= 1, "--cpus-per-run must be >= 1"),
        (args.gpus_per_run, lambda v: v >= 0, "--gpus-per-run must be >= 0"),
        (args.memory_per_run, lambda v: v > 0, "--memory-per-run must be > 0"),
        (args.max_concurrent, lambda v: v >= 1, "--max-concurrent must be >= 1"),
        (args.max_retries, lambda v: v >= 0, "--max-retries must be >= 0"),
    ]
    for value, ok, message in checks:
        if value is not None and not ok(value):
            raise SweepError(f"{message}, actual value: {value}")


def _validate_cells(manifest: Manifest, preset: str | None) -> None:
    """Every cell's settings pass sgqn.train's checks, before Ray starts.

    With ``preset`` known (given, or fixed in a resumed sweep), the resolved configs are checked
    whole; otherwise what the preset cannot change (the preset's own values always pass).
    """
    from dmcgb.errors import DMCGBError
    from sgqn.config import ConfigError
    from sgqn.presets import resolve
    from sgqn.train.prepare import check_env_ids
    from sgqn.validation import check_settings

    for cell in manifest.cells:
        try:
            cfg = manifest.config(cell)
            check_settings(cfg)
            if preset is not None:
                cfg = resolve(cfg, preset)
            check_env_ids(cfg)
        except (ConfigError, DMCGBError) as error:
            raise SweepError(f"cell {cell.name}: {error}") from None


def _known_preset(args: argparse.Namespace, manifest: Manifest, new: bool) -> str | None:
    """The sweep's preset if it is known before Ray reports the cluster's GPUs."""
    if not new:
        return manifest.preset
    if manifest.overrides.get("preset"):
        return str(manifest.overrides["preset"])
    if args.gpus_per_run is not None:
        return "paper" if args.gpus_per_run > 0 else "cpu-demo"
    return None


def _plan(
    args: argparse.Namespace, manifest: Manifest, new: bool, nodes: list[NodeShape]
) -> tuple[Manifest, RunResources]:
    """Fix the preset of a new sweep, and the per-run resources."""
    if new:  # the preset follows the GPUs, as in sgqn.train, and stays with the sweep
        gpus = args.gpus_per_run if args.gpus_per_run is not None else sum(n.gpus for n in nodes)
        preset = manifest.overrides.get("preset") or ("paper" if gpus else "cpu-demo")
        manifest = dataclasses.replace(manifest, preset=preset)
    memory = None if args.memory_per_run is None else int(args.memory_per_run * GiB)
    # Every run gets the same resources: plan for the cell with the largest replay buffer.
    largest = max((manifest.resolved(cell) for cell in manifest.cells), key=replay_bytes)
    resources = plan_resources(
        nodes,
        largest,
        len(manifest.cells),
        cpus=args.cpus_per_run,
        gpus=args.gpus_per_run,
        memory=memory,
    )
    return manifest, resources


def _sweep_to_run(args: argparse.Namespace, argv: list[str]) -> tuple[Path, Manifest, bool]:
    """The sweep folder, its grid, and whether the sweep is new."""
    # Absolute: Ray workers on other nodes do not start in this directory.
    if args.resume:
        return args.resume.absolute(), read_manifest(args.resume), False
    manifest = _new_manifest(args, argv)
    sweep_dir = args.out.absolute()
    if not (sweep_dir / MANIFEST_NAME).exists():
        return sweep_dir, manifest, True
    existing = read_manifest(sweep_dir)
    if not existing.same_grid(manifest):
        raise SweepError(
            f"{str(sweep_dir)!r} holds another sweep ({MANIFEST_NAME}); pick another --out, or "
            f"continue that one with --resume {sweep_dir}"
        )
    print(f"sgqn.sweep: {sweep_dir} holds this sweep already; continuing it")
    return sweep_dir, existing, False


def _print_plan(
    args: argparse.Namespace,
    sweep_dir: Path,
    manifest: Manifest,
    resources: RunResources,
    nodes: list[NodeShape],
    local: bool,
) -> None:
    """Say what will run where; refuse a run that no node of a local instance can hold."""
    slots = capacity(nodes, resources, args.max_concurrent)
    where = "this machine" if local else "the cluster"
    if slots == 0 and local:
        node = nodes[0]
        raise SweepError(
            f"one run asks for {resources.describe()}, more than {where} has ({node.cpus:g} "
            f"CPU, {node.gpus:g} GPU, {node.memory / GiB:.1f} GiB); lower --cpus-per-run, "
            "--gpus-per-run or --memory-per-run"
        )
    todo = sum(cell_state(sweep_dir / c.name) != "finished" for c in manifest.cells)
    print(
        f"sgqn.sweep: {len(manifest.cells)} cells ({todo} to run) in {sweep_dir} | preset "
        f"{manifest.preset} | {resources.describe()} | {slots} at once on {where}",
        flush=True,
    )
    if slots == 0:
        print("sgqn.sweep: no node fits a run yet; waiting for nodes to join", flush=True)
    if args.dry_run:
        for cell in manifest.cells:
            print(f"  {cell.name}: {manifest.total_steps(cell):,} steps")


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    from sgqn.sweep import cluster, runner

    _check_args(args)
    sweep_dir, manifest, new = _sweep_to_run(args, argv)
    _validate_cells(manifest, _known_preset(args, manifest, new))
    ray = cluster.import_ray()
    local = cluster.connect(args.address, args.num_cpus, args.num_gpus)
    try:
        nodes = cluster.cluster_nodes()
        if args.gpus_per_run is None:  # the default fraction needs the GPUs' memory
            nodes = cluster.probe_gpu_memory(nodes)
        manifest, resources = _plan(args, manifest, new, nodes)  # resolves (and checks) each cell
        _print_plan(args, sweep_dir, manifest, resources, nodes, local)
        if args.dry_run:
            return 0
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with runner.driver_lock(sweep_dir):
            if not (sweep_dir / MANIFEST_NAME).exists():
                write_manifest(sweep_dir, manifest)
            summary = runner.run_cells(
                manifest, sweep_dir, resources, args.max_retries, args.max_concurrent
            )
    finally:
        if local:
            ray.shutdown()
    print("\n".join(summary.lines()), flush=True)
    if summary.stopped:
        return 130
    return 0 if summary.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sweep; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        return _run(args, argv)
    except (SweepError, ConfigError) as error:
        print(f"sgqn.sweep: error: {error}", file=sys.stderr)
        return 2


def cli() -> None:
    """Console entry point."""
    sys.exit(main())
