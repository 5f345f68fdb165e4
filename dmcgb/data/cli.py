"""``python -m dmcgb.data`` (console script ``dmcgb-data``): fetch, list and verify assets.

Examples:
    python -m dmcgb.data fetch all                 # every DMControl-GB file (videos, colours)
    python -m dmcgb.data fetch video_hard --mirror http://mirror.example/dmcgb
    python -m dmcgb.data fetch places365-val       # Places365 val_256, downloaded and extracted
    python -m dmcgb.data fetch davis               # DAVIS 2017 (distracting_cs backgrounds)
    python -m dmcgb.data list
    python -m dmcgb.data verify                    # exit status 1 if a cached file is bad
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmcgb.data.cache import data_dir
from dmcgb.data.manifest import ASSETS, GROUPS, resolve
from dmcgb.data.store import describe_mirror, ensure, status, verify
from dmcgb.errors import DMCGBError, OfflineError

__all__ = ["main", "build_parser"]


def _add_common_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help="the cache folder (default: $DMCGB_DATA_DIR, else the user cache dir .../dmcgb)",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL",
        default=default,
        help="a base URL serving each asset at <URL>/<asset path>, instead of upstream "
        "(default: $DMCGB_MIRROR)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; common options are accepted before or after the command."""
    parser = argparse.ArgumentParser(
        prog="python -m dmcgb.data",
        description="Fetch, list and verify the DMControl-GB, Places365 and DAVIS data.",
    )
    _add_common_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True)
    # SUPPRESS: an option not given after the command keeps the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, argparse.SUPPRESS)

    fetch = commands.add_parser(
        "fetch",
        parents=[common],
        help="download assets into the cache",
        description=f"Groups: {', '.join(GROUPS)}; or any asset name from `list`. "
        "'all' is every DMControl-GB file (videos and colours), not Places365 or DAVIS.",
    )
    fetch.add_argument("names", nargs="+", metavar="NAME", help="groups or asset names")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars")
    listing = commands.add_parser("list", parents=[common], help="show assets and cache state")
    listing.add_argument("names", nargs="*", metavar="NAME", help="groups or assets (default: all)")
    check = commands.add_parser("verify", parents=[common], help="re-hash cached assets")
    check.add_argument("names", nargs="*", metavar="NAME", help="groups or assets (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a fetch failed or a cached file is bad)."""
    args = build_parser().parse_args(argv)
    root = args.data_dir if args.data_dir is not None else data_dir()
    try:
        if args.command == "fetch":
            return _fetch(args.names, root, args.mirror, not args.no_progress)
        if args.command == "list":
            return _list(args.names or None, root)
        return _verify(args.names or None, root)
    except ValueError as exc:  # unknown asset name
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _fetch(names: list[str], root: Path, mirror: str | None, progress: bool) -> int:
    assets = resolve(names)
    print(f"fetching {len(assets)} asset(s) into {root} from {describe_mirror(mirror)}")
    failed = []
    for name in assets:
        try:
            path = ensure(name, progress=progress, mirror=mirror, root=root)
        except OfflineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1  # every other asset would fail the same way
        except DMCGBError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"ok  {name}  {path}")
    if failed:
        print(f"{len(failed)} of {len(assets)} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _list(names: list[str] | None, root: Path) -> int:
    entries = status(names, root=root)
    width = max(len(entry.name) for entry in entries)
    print(f"data dir: {root}")
    for entry in entries:
        asset = ASSETS[entry.name]
        state = entry.state
        if state == "partial":
            state = f"partial ({_human(entry.size)})"
        print(f"{entry.name:<{width}}  {_human(asset.size):>10}  {state}")
    cached = sum(entry.state in ("cached", "extracted") for entry in entries)
    print(f"{cached} of {len(entries)} cached")
    return 0


def _verify(names: list[str] | None, root: Path) -> int:
    report = verify(names, root=root)
    if not report:
        print(f"nothing cached in {root}")
        return 0
    for name, verdict, detail in report:
        print(f"{verdict:<10}  {name}  {detail}")
    counts = {verdict: sum(v == verdict for _, v, _ in report) for verdict in ("ok", "bad")}
    print(", ".join(f"{n} {verdict}" for verdict, n in counts.items()))
    if counts["bad"]:
        print("bad files: delete them and fetch them again", file=sys.stderr)
        return 1
    return 0
