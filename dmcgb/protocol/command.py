"""``python -m dmcgb.evaluate``: score a policy by the benchmark's protocol from the shell.

    python -m dmcgb.evaluate --policy mypkg.agents:policy --task WalkerWalk \\
        --modes train,videohard --episodes 10 --seeds 1 2 --out evaluations --name my-agent

``--policy package.module:attribute`` names a callable in an importable module (the current
folder is on the path): ``policy(obs) -> action``, or with ``--factory`` a callable
``policy(seed)`` returning one. The run folders it writes are what ``python -m sgqn.report``
reads (see :func:`dmcgb.protocol.runner.evaluate`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dmcgb.errors import DMCGBError
from dmcgb.protocol.results import format_table, read_final
from dmcgb.protocol.runner import evaluate

__all__ = ["main", "load_policy"]

PROG = "python -m dmcgb.evaluate"


def load_policy(spec: str) -> Callable[..., Any]:
    """The callable ``package.module:attribute`` names (``attribute`` may be dotted).

    Raises:
        ValueError: a malformed spec, a module that cannot be imported, a missing attribute,
            or one that is not callable.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--policy must be package.module:function, got {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the user's own modules, as `python -m` finds them
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"--policy {spec}: cannot import {module_name!r} ({error})") from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"--policy {spec}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"--policy {spec}: {attribute!r} is not callable")
    return target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score a policy by the DMControl-GB protocol; write results sgqn.report reads.",
    )
    parser.add_argument("--policy", required=True, metavar="MODULE:CALLABLE",
                        help="policy(obs) -> action, obs a (frame_stack, H, W, 3) uint8 stack")  # fmt: skip
    parser.add_argument("--factory", action="store_true",
                        help="--policy is a factory: policy(seed) returns the policy of a seed")  # fmt: skip
    parser.add_argument("--task", required=True, help="a task name (WalkerWalk) or an id")
    parser.add_argument("--modes", default=None,
                        help="comma-separated modes; default the benchmark's for the task")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=30, help="episodes per mode (30)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="run seeds (1)")
    parser.add_argument("--out", default="evaluations", help="output folder (evaluations)")
    parser.add_argument("--name", default="agent", help="the agent's name in the report (agent)")
    parser.add_argument("--frame-stack", type=int, default=None,
                        help="default the benchmark's (3; robot tasks 1)")  # fmt: skip
    parser.add_argument("--action-repeat", type=int, default=None,
                        help="default the benchmark's (cartpole 8, finger 2, else 4; robot 1)")  # fmt: skip
    parser.add_argument("--image-size", type=int, default=84, help="frame size in pixels (84)")
    parser.add_argument("--step", type=int, default=0, help="the agent's training steps, if known")
    parser.add_argument("--workers", type=int, default=1, help="processes per mode (1)")
    parser.add_argument("--video", action="store_true", help="write each mode's first episode")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, evaluate, print each seed's table; the exit status (2 on bad input)."""
    args = _parser().parse_args(argv)
    try:
        policy = load_policy(args.policy)
        folders = evaluate(
            policy, args.task, args.modes, args.episodes, args.seeds, args.out, args.name,
            factory=args.factory, frame_stack=args.frame_stack, action_repeat=args.action_repeat,
            image_size=args.image_size, step=args.step, workers=args.workers, video=args.video,
        )  # fmt: skip
    except (DMCGBError, ValueError) as error:
        print(f"dmcgb.evaluate: error: {error}", file=sys.stderr)
        return 2
    for folder in folders:
        print(f"{folder}:\n{format_table(read_final(folder))}\n")
    print(f"dmcgb.evaluate: wrote {len(folders)} run folder(s); python -m sgqn.report {args.out}")
    return 0
