"""Time one SAC update and one SG-SAC update, with a per-phase breakdown.

    python bench/sgqn_update.py                       # batch 128, 84x84x9, |A| = 6, all algos
    python bench/sgqn_update.py --batch 8 --repeats 1 # quick check that it runs

(From a checkout without `pip install -e .`, prefix PYTHONPATH=.)

Prints the conditions (device, torch, threads, sizes) and a table of median seconds:
"full" is an update at an even step (every phase runs), "critic-only" one at an odd step;
the phase columns time the agent's methods one by one on the same batch:
critic (shift + L_Q [+ L_C with its attribution]), attribution (post-critic mask and actor
features), actor (+ temperature), targets, self-supervised (overlay + attribution head).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from sgqn.agent import SGSAC, Batch
from sgqn.augment import random_shift
from sgqn.config import ALGOS, Config


class _RandomOverlay:
    """Random images already on the device (decoding is not part of an update)."""

    def __init__(self, size: int, device: torch.device, pool: int = 256):
        self.pool = torch.randint(0, 256, (pool, 3, size, size), dtype=torch.uint8, device=device)

    def sample(self, n: int) -> torch.Tensor:
        return self.pool[torch.randint(0, len(self.pool), (n,), device=self.pool.device)]


def _timer(device: torch.device) -> Callable[[Callable[[], object], int], float]:
    def median_seconds(fn: Callable[[], object], repeats: int) -> float:
        times = []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return median_seconds


def _random_batch(batch: int, obs_shape: tuple[int, int, int], action_dim: int, device) -> Batch:
    return Batch(
        obs=torch.randint(0, 256, (batch, *obs_shape), dtype=torch.uint8, device=device),
        action=torch.rand(batch, action_dim, device=device) * 2 - 1,
        reward=torch.randn(batch, 1, device=device),
        next_obs=torch.randint(0, 256, (batch, *obs_shape), dtype=torch.uint8, device=device),
        not_done=torch.ones(batch, 1, device=device),
    )


def bench_algo(algo: str, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Median seconds of a full update, a critic-only update and each phase."""
    obs_shape = (3 * args.frames, args.size, args.size)
    cfg = Config(algo=algo, batch_size=args.batch, amp=args.amp)
    agent = SGSAC(obs_shape, (args.action_dim,), cfg, device, _RandomOverlay(args.size, device))
    batch = _random_batch(args.batch, obs_shape, args.action_dim, device)
    median = _timer(device)
    for step in range(2, 2 + args.warmup):
        agent.update(batch, step)

    row = {
        "full": median(lambda: agent.update(batch, 2), args.repeats),
        "critic-only": median(lambda: agent.update(batch, 1), args.repeats),
    }
    obs = random_shift(batch.obs, cfg.shift_pad).float()
    next_obs = random_shift(batch.next_obs, cfg.shift_pad).float()
    a, r, nd = batch.action, batch.reward, batch.not_done

    def critic() -> None:
        o = random_shift(batch.obs, cfg.shift_pad).float()
        n = random_shift(batch.next_obs, cfg.shift_pad).float()
        agent.update_critic(o, a, r, n, nd)

    row["critic"] = median(critic, args.repeats)
    row["attribution"] = median(lambda: agent.features_and_mask(obs, a, cfg.use_ssl), args.repeats)
    features, mask = agent.features_and_mask(obs, a, cfg.use_ssl)
    row["actor"] = median(lambda: agent.update_actor_and_alpha(features), args.repeats)
    row["targets"] = median(agent.update_targets, args.repeats)
    if cfg.use_ssl:
        row["self-supervised"] = median(
            lambda: agent.update_attribution_head(obs, a, mask), args.repeats
        )
    del next_obs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=84, help="observation height and width")
    parser.add_argument("--frames", type=int, default=3, help="stacked RGB frames")
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--algos", default="sac,sgqn", help=f"comma-separated, from {ALGOS}")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA only)")
    args = parser.parse_args()
    algos = [a for a in args.algos.split(",") if a]
    unknown = sorted(set(algos) - set(ALGOS))
    if unknown:
        parser.error(f"unknown algos {unknown}; expected some of {list(ALGOS)}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
        name = f"{torch.cuda.get_device_name(device)} (cudnn.benchmark)"
    else:
        name = f"CPU ({platform.processor() or platform.machine()})"

    print(f"device: {name} | torch {torch.__version__} | threads {torch.get_num_threads()}")
    print(
        f"batch {args.batch} | obs {3 * args.frames}x{args.size}x{args.size} uint8 | "
        f"|A| = {args.action_dim} | amp {args.amp and device.type == 'cuda'} | "
        f"median of {args.repeats} after {args.warmup} warm-up updates"
    )
    rows = {algo: bench_algo(algo, args, device) for algo in algos}
    columns = [
        "full",
        "critic-only",
        "critic",
        "attribution",
        "actor",
        "targets",
        "self-supervised",
    ]
    print("\nseconds per update (full = even step, every phase)")
    print(f"{'algo':<16}" + "".join(f"{c:>16}" for c in columns) + f"{'full / sac':>12}")
    sac = rows.get("sac", {}).get("full")
    for algo, row in rows.items():
        cells = "".join(f"{row[c]:>16.4f}" if c in row else f"{'-':>16}" for c in columns)
        ratio = f"{row['full'] / sac:>12.2f}" if sac else f"{'-':>12}"
        print(f"{algo:<16}{cells}{ratio}")
    for algo, row in rows.items():
        print(f"{algo}: {1.0 / row['full']:.1f} full updates/s")


if __name__ == "__main__":
    main()
