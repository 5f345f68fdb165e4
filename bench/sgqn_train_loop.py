"""Agent steps per second of the training loop: env step + replay add + sample + update.

    python bench/sgqn_train_loop.py                          # paper sizes, sac and sgqn
    python bench/sgqn_train_loop.py --tiny --steps 5 --warmup 2   # quick check that it runs

Each algo runs the loop of ``sgqn.train`` after its seed phase (one policy sample, one update,
one env step and one replay add per agent step) on a dmcgb env, and reports:
"steps/s" over the whole loop without any host synchronisation added, then a second pass
with a synchronisation after each phase that splits an agent step into act, sample, update,
env and add (milliseconds, medians; the env steps after the update, without overlap). Prints
the conditions first: device, torch, threads, sizes, env. ``--overlap`` steps the env on its
own thread during the update, as ``sgqn.train`` does by default (``bench/sgqn_overlap.py``
compares the two).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from functools import partial

import numpy as np
import torch

from dmcgb.protocol.envs import make_env
from dmcgb.rendering import ensure_gl_backend
from sgqn.config import ALGOS, Config
from sgqn.train.overlay import EmbeddedSource, OverlayStream
from sgqn.train.replay import ReplayBuffer
from sgqn.train.training_env import StepResult, TrainingEnv

_TINY = {"num_conv_layers": 3, "num_filters": 16, "hidden_dim": 64}
_PHASES = ("act", "sample", "update", "env", "add")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Loop:
    """The training loop of one algo, after the seed phase, on one env (stepped on its own
    thread during the update with ``overlap``, as in ``sgqn.train``)."""

    def __init__(
        self, args: argparse.Namespace, algo: str, device: torch.device, overlap: bool = False
    ) -> None:
        from sgqn.agent.factory import build_agent

        sizes = _TINY if args.tiny else {}
        self.cfg = Config(
            env=args.env,
            algo=algo,
            batch_size=args.batch,
            action_repeat=args.action_repeat,
            **sizes,
        )
        self.device = device
        size = self.cfg.render_size  # 100 for the random-crop algos (rad, soda), else 84
        frame_stack = self.cfg.task_value("frame_stack")  # the task's paper value (3 on DMC)
        make = partial(make_env, args.env, 0, frame_stack, self.cfg.action_repeat, size)
        self.env = TrainingEnv(make, overlap)
        self.overlay = None
        if self.cfg.uses_overlay:  # procedural images, decoded ahead in background threads
            self.overlay = OverlayStream(EmbeddedSource(), self.cfg.image_size, device, seed=0)
        action_shape = self.env.action_space.shape
        self.agent = build_agent(self.cfg.obs_shape, action_shape, self.cfg, device, self.overlay)
        capacity = args.fill + 2 * (args.warmup + args.steps) + 10
        self.replay = ReplayBuffer(capacity, (3, size, size), action_shape[0], frame_stack, device)
        self.obs = self.env.reset(seed=0)
        self.step_count = 0
        for _ in range(args.fill):  # seed phase: random actions
            action = self.env.action_space.sample()
            self._add(action, self.env.step(action))

    def _add(self, action: np.ndarray, result: StepResult) -> None:
        next_obs, reward, terminated, truncated = result
        self.replay.add(self.obs, action, reward, next_obs, terminated, truncated)
        self.obs = self.env.reset() if terminated or truncated else next_obs

    def step(self) -> None:
        """One agent step as ``sgqn.train`` takes it."""
        action = self.agent.act(self.obs, sample=True)
        with self.env.start(action) as pending:
            batch = self.replay.sample(self.cfg.batch_size)
            self.agent.update(batch, self.step_count, self.replay)
        self._add(action, pending.result())
        self.step_count += 1

    def timed_step(self) -> dict[str, float]:
        """One agent step with a synchronisation after each phase; seconds per phase."""
        times = {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            _sync(self.device)
            now = time.perf_counter()
            times[name] = now - t
            t = now

        action = self.agent.act(self.obs, sample=True)
        lap("act")
        batch = self.replay.sample(self.cfg.batch_size)
        lap("sample")
        self.agent.update(batch, self.step_count, self.replay)
        lap("update")
        result = self.env.step(action)
        lap("env")
        self._add(action, result)
        lap("add")
        self.step_count += 1
        return times

    def close(self) -> None:
        if self.overlay is not None:
            self.overlay.close()
        self.env.close()



def algos_flag(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """The algos of a comma-separated --algos, each one of ``ALGOS`` (else a parser error)."""
    algos = [a for a in text.split(",") if a]
    for algo in algos:
        if algo not in ALGOS:
            parser.error(f"--algos: {algo!r} is not one of {ALGOS}")
    return algos

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dmcgb/WalkerWalk-train-v0")
    parser.add_argument("--algos", default="sac,sgqn", help=f"comma-separated, from {ALGOS}")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="timed agent steps per pass")
    parser.add_argument("--warmup", type=int, default=10, help="untimed agent steps first")
    parser.add_argument("--fill", type=int, default=256, help="random steps in the buffer first")
    parser.add_argument("--tiny", action="store_true", help="small networks (a quick check)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--overlap", action="store_true", help="env steps during the update")
    args = parser.parse_args()
    algos = algos_flag(parser, args.algos)
    if args.threads:
        torch.set_num_threads(args.threads)
    ensure_gl_backend()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({name or platform.machine()}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, env {args.env}, action repeat {args.action_repeat}, "
        f"batch {args.batch}, obs 9x84x84, networks {'tiny ' + str(_TINY) if args.tiny else 'paper'}, "
        f"{args.steps} timed steps after {args.warmup} warm-up, overlap {args.overlap}"
    )
    header = f"{'algo':<16} {'steps/s':>8} " + " ".join(f"{p + ' ms':>10}" for p in _PHASES)
    print(header)
    print("-" * len(header))
    for algo in algos:
        loop = _Loop(args, algo, device, args.overlap)
        for _ in range(args.warmup):
            loop.step()
        _sync(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            loop.step()
        _sync(device)
        steps_per_s = args.steps / (time.perf_counter() - start)
        phases = [loop.timed_step() for _ in range(args.steps)]
        medians = [1e3 * statistics.median(p[name] for p in phases) for name in _PHASES]
        loop.close()
        print(f"{algo:<16} {steps_per_s:>8.2f} " + " ".join(f"{m:>10.2f}" for m in medians))


if __name__ == "__main__":
    main()
