"""Time one update of every algorithm, with a per-phase breakdown and the cost relative to SAC.

    python bench/sgqn_update.py                        # batch 128, 9x84x84, |A| = 6, all algos
    python bench/sgqn_update.py --algos sac,svea,soda  # a subset
    python bench/sgqn_update.py --batch 8 --repeats 1  # quick check that it runs

(From a checkout without `pip install -e .`, prefix PYTHONPATH=.)

Prints the conditions (device, torch, threads, sizes) and a table of median seconds. "even"
is an update at an even step (every phase runs: critic, actor, targets, auxiliary losses),
"odd" one at an odd step (the critic only); "per step" is their mean, what an agent step
costs on average, and "/ sac" its ratio to SAC's. The SGQN paper's Table 4 reports wall time
per run relative to SAC: SODA and SVEA about 3x. The phase columns time the agent's methods
one by one on the same batch: critic (augmentation + L_Q [+ SVEA's copies] [+ L_C with its
attribution]), attribution (post-critic mask and actor features), actor (+ temperature),
targets, head (SGQN's attribution head on overlaid obs), soda (its own batch of 256 +
projector / predictor / momentum target).

Timing alternates: each repetition times every algorithm and phase once, in turn, so that a
busy shared machine slows them alike; compare ratios within one run, not seconds across runs.
Overlay images come from a pool already on the device: decoding them is a background job,
not part of an update.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from sgqn.agent.factory import build_agent
from sgqn.agent.interfaces import Batch
from sgqn.config import ALGOS, Config

_COLUMNS = ("even", "odd", "critic", "attribution", "actor", "targets", "head", "soda")


class _DeviceImages:
    """Random images already on the device (an overlay stream whose decoding is done)."""

    def __init__(self, size: int, device: torch.device, pool: int = 512):
        self.pool = torch.randint(0, 256, (pool, 3, size, size), dtype=torch.uint8, device=device)

    def images(self, start: int, n: int) -> torch.Tensor:
        return self.pool[torch.randint(0, len(self.pool), (n,), device=self.pool.device)]


class _DeviceReplay:
    """Random transitions on the device, sampled by index like the replay buffer."""

    def __init__(self, obs_shape, action_dim: int, device: torch.device, size: int = 1024):
        self.obs = torch.randint(0, 256, (size, *obs_shape), dtype=torch.uint8, device=device)
        self.action = torch.rand(size, action_dim, device=device) * 2 - 1
        self.reward = torch.randn(size, 1, device=device)

    def sample(self, n: int) -> Batch:
        idx = torch.randint(0, len(self.obs), (n,), device=self.obs.device)
        nxt = (idx + 1) % len(self.obs)
        ones = torch.ones(n, 1, device=self.obs.device)
        return Batch(self.obs[idx], self.action[idx], self.reward[idx], self.obs[nxt], ones)


class _Bench:
    """One algorithm's agent, batch and the calls that are timed."""

    def __init__(self, algo: str, args: argparse.Namespace, device: torch.device):
        cfg = Config(algo=algo, batch_size=args.batch, amp=args.amp, image_size=args.size)
        self.cfg = cfg
        self.agent = build_agent(
            cfg.obs_shape, (args.action_dim,), cfg, device, _DeviceImages(args.size, device)
        )
        self.replay = _DeviceReplay(cfg.obs_shape, args.action_dim, device)
        self.batch = self.replay.sample(args.batch)
        for step in range(2, 2 + args.warmup):
            self.agent.update(self.batch, step, self.replay)

    def calls(self) -> dict[str, Callable[[], object]]:
        agent, batch, replay, row = self.agent, self.batch, self.replay, self.agent.algorithm
        obs = agent.augment(batch.obs)
        a, r, nd = batch.action, batch.reward, batch.not_done
        features = agent.actor_features(obs, a, 2)  # with the mask, for the attribution head

        def critic() -> None:
            o, n = agent.augment(batch.obs), agent.augment(batch.next_obs)
            agent.update_critic(o, a, r, n, nd)

        calls = {
            "even": lambda: agent.update(batch, 2, replay),
            "odd": lambda: agent.update(batch, 1, replay),
            "critic": critic,
            "attribution": lambda: agent.actor_features(obs, a, 2),
            "actor": lambda: agent.update_actor_and_alpha(features),
            "targets": agent.update_targets,
        }
        if row.attribution_ssl:
            _, mask = agent.features_and_mask(obs, a)
            calls["head"] = lambda: agent.update_attribution_head(obs, a, mask)
        if row.soda:
            calls["soda"] = lambda: agent.update_soda(replay.sample(self.cfg.soda_batch_size).obs)
        return calls


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=84, help="network input height and width")
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--algos", default=",".join(ALGOS), help=f"comma-separated, from {ALGOS}")
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
        f"batch {args.batch} (SODA's own batch 256) | obs 9x{args.size}x{args.size} uint8 "
        f"(rad, soda: rendered {args.size + 16}, cropped) | |A| = {args.action_dim} | amp "
        f"{args.amp and device.type == 'cuda'} | median of {args.repeats}, algos alternating, "
        f"after {args.warmup} warm-up updates"
    )
    benches = {algo: _Bench(algo, args, device) for algo in algos}
    calls = {algo: bench.calls() for algo, bench in benches.items()}
    times: dict[str, dict[str, list[float]]] = {a: {c: [] for c in calls[a]} for a in algos}
    for _ in range(args.repeats):  # alternate: every algo and phase once per repetition
        for algo in algos:
            for column, call in calls[algo].items():
                times[algo][column].append(_timed(call, device))
    rows = {a: {c: statistics.median(v) for c, v in times[a].items()} for a in algos}
    for row in rows.values():
        row["per step"] = (row["even"] + row["odd"]) / 2

    print("\nseconds (median); per step = mean of an even and an odd step")
    header = f"{'algo':<16}{'per step':>10}{'/ sac':>8}" + "".join(f"{c:>12}" for c in _COLUMNS)
    print(header)
    print("-" * len(header))
    sac = rows.get("sac", {}).get("per step")
    for algo, row in rows.items():
        ratio = f"{row['per step'] / sac:>8.2f}" if sac else f"{'-':>8}"
        cells = "".join(f"{row[c]:>12.4f}" if c in row else f"{'-':>12}" for c in _COLUMNS)
        print(f"{algo:<16}{row['per step']:>10.4f}{ratio}{cells}")


if __name__ == "__main__":
    main()
