"""Env steps overlapped with the update: training-loop steps/s with and without, side by side.

    python bench/sgqn_overlap.py                        # cpu-demo sizes (batch 8), sac and sgqn
    python bench/sgqn_overlap.py --tiny --rounds 2 --steps 3   # quick check that it runs

Two loops per algo (``sgqn_train_loop``: act, sample, update, env step, replay add, as
``sgqn.train`` runs them), one with ``--no-overlap`` and one with the env on its own thread
during the update, run ``--steps`` agent steps each in turn, the order reversed every round,
so that a machine whose load changes slows both alike. The table gives the median steps/s of
each, the median over rounds of the per-round ratio, and the serial phases of one step
(update, env step, the rest; medians of a separate pass with a synchronisation after each):
overlap can at best hide the shorter of update and env, which the "bound" column gives,
(update + env + rest) / (max(update, env) + rest). Prints the conditions first, with the load
average before and after; compare ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from sgqn_train_loop import _Loop, algos_flag

from dmcgb.rendering import ensure_gl_backend
from sgqn.config import ALGOS
from sgqn.train.prepare import default_threads


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _rate(loop: _Loop, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        loop.step()
    if loop.device.type == "cuda":
        torch.cuda.synchronize(loop.device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dmcgb/WalkerWalk-train-v0")
    parser.add_argument("--algos", default="sac,sgqn", help=f"comma-separated, from {ALGOS}")
    parser.add_argument("--batch", type=int, default=8, help="the cpu-demo's (paper: 128)")
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=6, help="agent steps per side and round")
    parser.add_argument("--tiny", action="store_true", help="small networks (a quick check)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="default: as sgqn.train")
    args = parser.parse_args()
    algos = algos_flag(parser, args.algos)
    torch.set_num_threads(args.threads or default_threads())
    device = torch.device(args.device)
    loop_args = argparse.Namespace(  # what _Loop reads
        env=args.env,
        batch=args.batch,
        action_repeat=args.action_repeat,
        fill=128,
        warmup=0,
        steps=2 * args.rounds * args.steps + 4 * args.steps + 8,
        tiny=args.tiny,
    )
    ensure_gl_backend()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu()
    print(
        f"{where}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), MUJOCO_GL={os.environ.get('MUJOCO_GL')}, "
        f"env {args.env}, action repeat {args.action_repeat}, batch {args.batch}, networks "
        f"{'tiny' if args.tiny else 'paper'}, {args.rounds} rounds of {args.steps} steps per "
        f"side; load average before: {os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'algo':<8} {'no overlap':>11} {'overlap':>9} {'ratio':>7}  "
        f"{'update ms':>10} {'env ms':>8} {'rest ms':>8} {'bound':>7}"
    )
    print("steps/s (median over rounds); ratio: median of overlap / no overlap per round")
    print(header)
    print("-" * len(header))
    for algo in algos:
        loops = {False: _Loop(loop_args, algo, device), True: _Loop(loop_args, algo, device, True)}
        for loop in loops.values():
            _rate(loop, 2)  # warm-up: first updates allocate
        rates: dict[bool, list[float]] = {False: [], True: []}
        for round_ in range(args.rounds):
            for overlap in (False, True) if round_ % 2 == 0 else (True, False):
                rates[overlap].append(_rate(loops[overlap], args.steps))
        phases = [loops[False].timed_step() for _ in range(args.steps * 2)]
        for loop in loops.values():
            loop.close()
        update, env = (statistics.median(p[k] for p in phases) for k in ("update", "env"))
        rest = statistics.median(sum(p.values()) for p in phases) - update - env
        bound = (update + env + rest) / (max(update, env) + rest)
        ratio = statistics.median(
            on / off for on, off in zip(rates[True], rates[False], strict=True)
        )
        print(
            f"{algo:<8} {statistics.median(rates[False]):>11.2f} "
            f"{statistics.median(rates[True]):>9.2f} {ratio:>7.2f}  {1e3 * update:>10.1f} "
            f"{1e3 * env:>8.1f} {1e3 * rest:>8.1f} {bound:>7.2f}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
