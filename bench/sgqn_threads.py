"""torch threads on the CPU: agent steps/s of the training loop at 1, 2, ... threads.

    python bench/sgqn_threads.py                      # cpu-demo sizes (batch 32), sac and sgqn
    python bench/sgqn_threads.py --threads 1,2 --rounds 6 --steps 8

One loop per algo (``sgqn_train_loop``: act, update, env step, replay add) runs ``--steps``
agent steps at each thread count in turn, the order reversed every round, so that a machine
whose load changes affects every side alike; the table gives the median steps/s per thread
count over the rounds and the ratio to the first count. ``sgqn.train --threads`` sets the
count of a run; its default (the cores minus one, at least one) comes from this table.
Prints the conditions first, with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from sgqn_train_loop import _Loop

from dmcgb.rendering import ensure_gl_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dmcgb/WalkerWalk-train-v0")
    parser.add_argument("--algos", default="sac,sgqn")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=8, help="agent steps per side and round")
    parser.add_argument("--tiny", action="store_true", help="small networks (a quick check)")
    args = parser.parse_args()
    counts = [int(c) for c in args.threads.split(",") if c]
    # what _Loop reads
    loop_args = argparse.Namespace(
        env=args.env,
        batch=args.batch,
        action_repeat=args.action_repeat,
        fill=256,
        warmup=0,
        steps=args.rounds * len(counts) * args.steps,
        tiny=args.tiny,
    )
    ensure_gl_backend()
    print(
        f"cpu {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, env {args.env}, action repeat {args.action_repeat}, batch "
        f"{args.batch}, networks {'tiny' if args.tiny else 'paper'}, {args.rounds} rounds of "
        f"{args.steps} steps per side; load average before: {os.getloadavg()[0]:.2f}"
    )
    header = f"{'algo':<8}" + "".join(f" {f'{c} thr steps/s':>15}" for c in counts)
    header += "".join(f" {f'{c}/{counts[0]}':>8}" for c in counts[1:])
    print(header)
    print("-" * len(header))
    for algo in args.algos.split(","):
        loop = _Loop(loop_args, algo, torch.device("cpu"))
        for _ in range(2):  # warm-up: first updates allocate
            loop.step()
        rates: dict[int, list[float]] = {c: [] for c in counts}
        for round_ in range(args.rounds):
            for count in counts if round_ % 2 == 0 else counts[::-1]:
                torch.set_num_threads(count)
                start = time.perf_counter()
                for _ in range(args.steps):
                    loop.step()
                rates[count].append(args.steps / (time.perf_counter() - start))
        loop.close()
        medians = [statistics.median(rates[c]) for c in counts]
        row = f"{algo:<8}" + "".join(f" {m:>15.2f}" for m in medians)
        row += "".join(f" {m / medians[0]:>8.2f}" for m in medians[1:])
        print(row, flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
