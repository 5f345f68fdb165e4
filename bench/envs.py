"""Environment speed: agent steps per second per mode, reset times, compositing cost.

    python bench/envs.py [--task WalkerWalk] [--steps 200] [--data-dir DIR]

Prints one table per part and the conditions (CPU, GL backend, versions). Agent steps use
action repeat 4 and 84x84 observations, as the SGQN protocol does.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmark's reference code lives in tests/


def _conditions() -> str:
    from importlib.metadata import version

    import gymnasium
    import mujoco

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"CPU: {cpu}, {os.cpu_count()} cores visible; MUJOCO_GL={os.environ.get('MUJOCO_GL')}; "
        f"mujoco {mujoco.__version__}, dm_control {version('dm_control')}, "
        f"gymnasium {gymnasium.__version__}, numpy {np.__version__}"
    )


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _steps_per_second(env_id: str, steps: int, repeat: int) -> tuple[float, float, float, float]:
    """(agent steps/s, first reset s, mean reset s after an episode, re-seeded reset s).

    The step rate counts step() calls only; resets at episode ends are timed apart.
    """
    import dmcgb
    from dmcgb.wrappers import ActionRepeat

    env = ActionRepeat(dmcgb.make(env_id), repeat)
    start = time.perf_counter()
    env.reset(seed=0)
    first_reset = time.perf_counter() - start
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (steps, *env.action_space.shape))
    stepping, resets = 0.0, []
    for action in actions:
        start = time.perf_counter()
        *_, terminated, truncated, _ = env.step(action.astype(np.float32))
        stepping += time.perf_counter() - start
        if terminated or truncated:
            # The next episode: a new colour, or the next video (decoded in the background
            # while the previous episode ran).
            start = time.perf_counter()
            env.reset()
            resets.append(time.perf_counter() - start)
    start = time.perf_counter()
    env.reset(seed=0)  # back to episode 1: everything cached
    cached_reset = time.perf_counter() - start
    env.close()
    next_reset = float(np.mean(resets)) if resets else float("nan")
    return steps / stepping, first_reset, next_reset, cached_reset


def bench_modes(task: str, steps: int, repeat: int) -> None:
    import dmcgb

    rows, base = [], None
    ids = [dmcgb.env_id(task, mode) for mode in dmcgb.MODES]
    ids += [dmcgb.env_id(robot, "train") for robot in dmcgb.ROBOT_TASKS]
    ids += [dmcgb.env_id(robot, "test2") for robot in dmcgb.ROBOT_TASKS]
    for env_id in ids:
        # The robot tasks step once per agent step (50-step episodes), with no action repeat.
        env_repeat = 1 if "/Robot" in env_id else repeat
        rate, first, nxt, cached = _steps_per_second(env_id, steps, env_repeat)
        if env_id.endswith("-train-v0") and base is None:
            base = rate
        cost = f"{(base / rate - 1) * 100:+.1f}%" if base and env_id.startswith(f"dmcgb/{task}") else ""
        rows.append([env_id, f"{rate:.1f}", cost, f"{first * 1e3:.0f}", f"{nxt * 1e3:.0f}", f"{cached * 1e3:.0f}"])
    _table(
        f"Agent steps per second (84x84, action repeat {repeat}, {steps} steps; robot tasks: repeat 1; step() time only)",
        ["env", "agent steps/s", "cost per step vs train", "first reset ms", "reset after an episode ms", "re-seeded reset ms"],
        rows,
    )


def bench_compositing(repeats: int) -> None:
    import dmcgb
    from dmcgb import chroma_key
    from dmcgb.video import VIDEO_CACHE
    from tests.dmcgb import benchmark_reference as reference

    env = dmcgb.make("dmcgb/WalkerWalk-videohard-v0").unwrapped
    env.reset(seed=0)
    green = env._camera(84).render().copy()
    path = dmcgb.data.ensure(dmcgb.data.video_asset("video_hard", 1))
    background = VIDEO_CACHE.get(path, 84, 84)[0]
    env.close()
    chroma_key.key_table()  # built once per process; not part of the per-frame cost
    ours = timeit.timeit(lambda: chroma_key.chroma_key(green, background), number=repeats) / repeats
    mask = timeit.timeit(lambda: chroma_key.key_mask(green), number=repeats) / repeats
    theirs = timeit.timeit(lambda: reference.composite(green, background), number=3) / 3
    start = time.perf_counter()
    chroma_key._build_table()
    table = time.perf_counter() - start
    _table(
        "Compositing one 84x84 frame (one thread)",
        ["step", "time"],
        [
            ["key mask (lookup table)", f"{mask * 1e3:.4f} ms"],
            ["mask + composite (dmcgb)", f"{ours * 1e3:.4f} ms"],
            ["benchmark per-pixel loop", f"{theirs * 1e3:.2f} ms"],
            ["lookup table build (once per process)", f"{table:.2f} s"],
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="WalkerWalk")
    parser.add_argument("--steps", type=int, default=200, help="agent steps timed per env")
    parser.add_argument("--repeat", type=int, default=4, help="action repeat")
    parser.add_argument("--data-dir", help="DMControl-GB data dir (default: DMCGB_DATA_DIR or the cache)")
    args = parser.parse_args()
    if args.data_dir:
        os.environ["DMCGB_DATA_DIR"] = args.data_dir
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()
    print(_conditions())
    bench_compositing(repeats=2000)
    bench_modes(args.task, args.steps, args.repeat)


if __name__ == "__main__":
    main()
