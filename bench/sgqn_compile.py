"""torch.compile against eager: seconds per update of each algo, alternating, and the compile cost.

    python bench/sgqn_compile.py                          # cpu-demo batch (8), sac and sgqn
    python bench/sgqn_compile.py --batch 128 --device cuda
    python bench/sgqn_compile.py --tiny --repeats 2       # quick check that it runs

Per algo, an eager agent and a compiled copy (``--compile``: the same weights) update on the
same random batches. The compiled agent's first updates (an odd and an even step: every kind
of pass) are its compilation, timed as "compile s" (inductor caches kernels on disk, so a
second run of this script compiles faster; the first-run figure is what a new run pays).
Then each repetition times one even and one odd update of each agent in turn, the order
reversed every repetition, so that a machine whose load changes slows both alike; the table
gives the median seconds of an agent step (mean of an even and an odd update) and the median
per-repetition ratio compiled / eager. Prints the conditions, with the load average before
and after; compare ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import torch
from sgqn_train_loop import algos_flag
from sgqn_update import _DeviceImages, _DeviceReplay

from sgqn.agent.factory import build_agent
from sgqn.agent.sac import SAC
from sgqn.config import ALGOS, Config
from sgqn.train.prepare import default_threads

_TINY = {"num_conv_layers": 3, "num_filters": 16, "hidden_dim": 64}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_seconds(agent: SAC, replay: _DeviceReplay, batch_size: int, step: int) -> float:
    """Seconds of one even and one odd update, halved: an agent step's update on average."""
    batch = replay.sample(batch_size)
    _sync(agent.device)
    start = time.perf_counter()
    agent.update(batch, step, replay)
    agent.update(batch, step + 1, replay)
    _sync(agent.device)
    return (time.perf_counter() - start) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default="sac,sgqn", help=f"comma-separated, from {ALGOS}")
    parser.add_argument("--batch", type=int, default=8, help="the cpu-demo's (paper: 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--tiny", action="store_true", help="small networks (a quick check)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="default: as sgqn.train")
    args = parser.parse_args()
    algos = algos_flag(parser, args.algos)
    torch.set_num_threads(args.threads or default_threads())
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"{where or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), batch {args.batch}, obs 9x84x84, networks "
        f"{'tiny' if args.tiny else 'paper'}, median of {args.repeats}, alternating; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    header = f"{'algo':<8} {'compile s':>10} {'eager s':>9} {'compiled s':>11} {'ratio':>7}"
    print("seconds per agent step's update (mean of an even and an odd update)")
    print(header)
    print("-" * len(header))
    for algo in algos:
        cfg = Config(algo=algo, batch_size=args.batch, **(_TINY if args.tiny else {}))
        torch.manual_seed(0)
        eager = build_agent(cfg.obs_shape, (6,), cfg, device, _DeviceImages(84, device))
        compiled = copy.deepcopy(eager)
        compiled.compile()
        replay = _DeviceReplay(cfg.obs_shape, 6, device)
        _step_seconds(eager, replay, args.batch, 2)  # first calls allocate
        compile_seconds = 2 * _step_seconds(compiled, replay, args.batch, 2)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for repeat in range(args.repeats):
            order = ("eager", "compiled") if repeat % 2 == 0 else ("compiled", "eager")
            for name in order:
                agent = eager if name == "eager" else compiled
                times[name].append(_step_seconds(agent, replay, args.batch, 2 * repeat + 4))
        ratio = statistics.median(
            c / e for c, e in zip(times["compiled"], times["eager"], strict=True)
        )
        print(
            f"{algo:<8} {compile_seconds:>10.1f} {statistics.median(times['eager']):>9.3f} "
            f"{statistics.median(times['compiled']):>11.3f} {ratio:>7.2f}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
