"""Environment speed: agent steps per second per mode, reset times, compositing cost.

    python bench/envs.py [--task WalkerWalk] [--steps 200] [--data-dir DIR] [--davis-dir DIR]

Prints one table per part and the conditions (CPU, GL backend, versions). Agent steps use
action repeat 4 and 84x84 observations, as the SGQN protocol does. The distractingcs table
needs DAVIS (cached, or ``--davis-dir``; ``--davis-dir synthetic`` writes a stand-in of
generated 854x480 JPEG sequences to a temporary folder).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np


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
    from dmcgb import chroma_key, reference
    from dmcgb.video import VIDEO_CACHE

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


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _distracting_child(env_id: str, kwargs: dict, steps: int, repeat: int, out) -> None:
    """One env in a fresh process: (agent steps/s, reset ms, RSS growth MiB, peak RSS MiB)."""
    import dmcgb
    from dmcgb.wrappers import ActionRepeat

    before = _rss_mib()
    env = ActionRepeat(dmcgb.make(env_id, **kwargs), repeat)
    start = time.perf_counter()
    env.reset(seed=0)
    reset = time.perf_counter() - start
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    stepping = 0.0
    for _ in range(steps):
        action = rng.uniform(low, high).astype(np.float32)
        start = time.perf_counter()
        *_, terminated, truncated, _ = env.step(action)
        stepping += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((steps / stepping, reset * 1e3, _rss_mib() - before, peak))
    env.close()


def _synthetic_davis(root: Path) -> Path:
    """60 train sequences of 70 854x480 JPEG frames (noise over a ramp: real JPEG sizes).

    One sequence is encoded and hard-linked under the other 59 names: decoding cost is what
    matters here, not which pixels the frames hold.
    """
    from PIL import Image

    from dmcgb.distracting import TRAIN_VIDEOS

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 854)[None, :, None] * np.ones((480, 1, 3))
    first = root / "JPEGImages" / "480p" / TRAIN_VIDEOS[0]
    first.mkdir(parents=True)
    for frame in range(70):  # DAVIS 2017 sequences have 25 to 104 frames
        pixels = (ramp + rng.normal(0, 25, (480, 854, 3)) + 3 * frame) % 256
        Image.fromarray(pixels.astype(np.uint8)).save(first / f"{frame:05d}.jpg", quality=90)
    for name in TRAIN_VIDEOS[1:]:
        folder = first.parent / name
        folder.mkdir()
        for path in first.iterdir():
            os.link(path, folder / path.name)
    return root


def bench_distracting(task: str, steps: int, repeat: int, davis_dir: str | None) -> None:
    """distractingcs next to train, each env in its own process, two alternating rounds."""
    import dmcgb

    kwargs: dict = {}
    if davis_dir == "synthetic":
        kwargs["davis_dir"] = str(_synthetic_davis(Path(tempfile.mkdtemp(prefix="davis-"))))
    elif davis_dir:
        kwargs["davis_dir"] = davis_dir
    elif dmcgb.data.status(["davis"])[0].state != "extracted":
        print("\ndistractingcs: skipped (no DAVIS; `python -m dmcgb.data fetch davis` or --davis-dir)")
        return
    ids = [dmcgb.env_id(task, "train")] + [
        dmcgb.env_id(task, mode) for mode in ("distractingcs0.1", "distractingcs0.5")
    ]
    context = multiprocessing.get_context("spawn")
    results: dict[str, list[tuple]] = {env_id: [] for env_id in ids}
    for round_ in range(2):
        for env_id in ids if round_ == 0 else ids[::-1]:
            out = context.Queue()
            args = (env_id, {} if env_id.endswith("-train-v0") else kwargs, steps, repeat, out)
            child = context.Process(target=_distracting_child, args=args)
            child.start()
            results[env_id].append(out.get())
            child.join()
    base = float(np.mean([r[0] for r in results[ids[0]]]))
    rows = []
    for env_id in ids:
        rate, reset, grown, peak = np.mean(np.array(results[env_id]), axis=0)
        rows.append(
            [
                env_id,
                f"{rate:.1f}",
                f"{(base / rate - 1) * 100:+.1f}%",
                f"{reset:.0f}",
                f"{grown:.0f}",
                f"{peak:.0f}",
            ]
        )
    source = "synthetic DAVIS (854x480 JPEG, 70 frames)" if davis_dir == "synthetic" else "DAVIS"
    _table(
        f"distractingcs (84x84, action repeat {repeat}, {steps} steps, {source}; one process per "
        "env, mean of 2 alternating rounds)",
        [
            "env",
            "agent steps/s",
            "cost per step vs train",
            "first reset ms",
            "RSS growth MiB (make + steps)",
            "peak RSS MiB",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="WalkerWalk")
    parser.add_argument("--steps", type=int, default=200, help="agent steps timed per env")
    parser.add_argument("--repeat", type=int, default=4, help="action repeat")
    parser.add_argument("--data-dir", help="DMControl-GB data dir (default: DMCGB_DATA_DIR or the cache)")
    parser.add_argument("--davis-dir", help="DAVIS folder for distractingcs, or 'synthetic'")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("compositing", "modes", "distracting"),
        default=("compositing", "modes", "distracting"),
        help="which tables to print (default: all)",
    )
    args = parser.parse_args()
    if args.data_dir:
        os.environ["DMCGB_DATA_DIR"] = args.data_dir
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()
    print(_conditions())
    if "compositing" in args.parts:
        bench_compositing(repeats=2000)
    if "modes" in args.parts:
        bench_modes(args.task, args.steps, args.repeat)
    if "distracting" in args.parts:
        bench_distracting(args.task, args.steps, args.repeat, args.davis_dir)


if __name__ == "__main__":
    main()
