"""Environment speed and memory: agent steps/s, reset times and RSS per mode; per-frame costs.

    python bench/envs.py [--task WalkerWalk] [--steps 300] [--resets 20] [--repeat 4]
                         [--data-dir DIR] [--davis-dir DIR|synthetic]

Prints one table per part and the conditions (CPU, GL backend, versions). Agent steps use the
env's own action repeat (4 by default, as the SGQN protocol) and 84x84 observations.

Each env id is measured in a fresh process, so that its resident memory (RSS) is its own:
after importing and making the env, after the first reset, and after ``--resets`` further
episodes (each reset followed by one step), which is the steady state of a video mode (every
reset shows another video). "video held" is the decoded background frames the process keeps.

The distractingcs rows (intensities 0.1 and 0.5) need DAVIS: cached, or ``--davis-dir``;
``--davis-dir synthetic`` writes a stand-in of 854x480 JPEG sequences to a temporary folder.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_REPO))  # the benchmark's per-pixel reference code lives in tests/

_MIB = 2**20


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"CPU: {cpu}, {os.cpu_count()} cores visible, load average {load:.1f} at start; "
        f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}; mujoco {mujoco.__version__}, "
        f"dm_control {version('dm_control')}, gymnasium {gymnasium.__version__}, "
        f"numpy {np.__version__}, opencv {version('opencv-python-headless')}"
    )


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _rss() -> int:
    """Resident memory of this process, bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _wait_for_decoding(env) -> None:
    """Let the background decoding of the videos a video-mode env holds finish."""
    for future in getattr(env.unwrapped, "_held", {}).values():
        future.result()


def measure_one(env_id: str, steps: int, resets: int, repeat: int, davis_dir: str = "") -> dict:
    """Speed and memory of one env, in this process (run by ``main`` in a fresh one)."""
    import gymnasium as gym

    import dmcgb  # noqa: F401  (registers the ids)
    from dmcgb.video import VIDEO_CACHE

    rss_start = _rss()
    extra = {"davis_dir": davis_dir} if davis_dir and "-distractingcs" in env_id else {}
    env = gym.make(env_id, action_repeat=repeat, **extra)
    rss_made = _rss()
    start = time.perf_counter()
    env.reset(seed=0)
    first_reset = time.perf_counter() - start
    rss_first = _rss()
    rng = np.random.default_rng(0)
    space = env.action_space
    actions = rng.uniform(space.low, space.high, (steps, *space.shape)).astype(np.float32)
    stepping, episode_resets = 0.0, []
    for action in actions:
        start = time.perf_counter()
        *_, terminated, truncated, _ = env.step(action)
        stepping += time.perf_counter() - start
        if terminated or truncated:
            start = time.perf_counter()
            env.reset()  # the next video was decoded in the background meanwhile
            episode_resets.append(time.perf_counter() - start)
    short_resets = []
    for _ in range(resets):
        start = time.perf_counter()
        env.reset()
        short_resets.append(time.perf_counter() - start)
        env.step(actions[0])
    _wait_for_decoding(env)
    rss_steady = _rss()
    start = time.perf_counter()
    env.reset(seed=0)  # back to episode 0: its video is kept
    reseeded = time.perf_counter() - start
    _wait_for_decoding(env)
    held = VIDEO_CACHE.held_bytes()
    env.close()
    return {
        "steps_per_s": steps / stepping,
        "first_reset_ms": first_reset * 1e3,
        "episode_reset_ms": float(np.mean(episode_resets)) * 1e3 if episode_resets else None,
        "short_reset_ms": float(np.median(short_resets)) * 1e3 if short_resets else None,
        "reseeded_reset_ms": reseeded * 1e3,
        "rss_start_mib": rss_start / _MIB,
        "rss_made_mib": rss_made / _MIB,
        "rss_first_mib": rss_first / _MIB,
        "rss_steady_mib": rss_steady / _MIB,
        "video_held_mib": held / _MIB,
    }


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


def _davis_dir(option: str | None) -> str | None:
    """The DAVIS folder for the distractingcs rows, or None to leave them out."""
    import dmcgb

    if option == "synthetic":
        folder = Path(tempfile.mkdtemp(prefix="davis-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return str(_synthetic_davis(folder))
    if option:
        return option
    if dmcgb.data.status(["davis"])[0].state == "extracted":
        return str(dmcgb.data.davis_dir(download=False))
    print("distractingcs rows left out: no DAVIS (`python -m dmcgb.data fetch davis` or --davis-dir)")
    return None


def bench_modes(task: str, steps: int, resets: int, repeat: int, davis_dir: str | None) -> None:
    import dmcgb

    ids = [
        dmcgb.env_id(task, name)
        for name, mode in dmcgb.MODES.items()
        if name not in dmcgb.DISTRACTING_MODES and mode.has_domain(dmcgb.TASKS[task].domain)
    ]
    if davis_dir and task in dmcgb.DISTRACTING_TASKS:
        ids += [dmcgb.env_id(task, f"distractingcs{i}") for i in (0.1, 0.5)]
    ids += [dmcgb.env_id(robot, "train") for robot in dmcgb.ROBOT_TASKS]
    ids += [dmcgb.env_id(robot, "test2") for robot in dmcgb.ROBOT_TASKS]
    rows, failed, base = [], [], None
    for env_id in ids:
        # The robot tasks run at action repeat 1 (50-step episodes), as in the paper.
        env_repeat = 1 if "/Robot" in env_id else repeat
        code = (
            "import json, sys; sys.path.insert(0, sys.argv[1]); from bench.envs import measure_one; "
            "print(json.dumps(measure_one(sys.argv[2], *map(int, sys.argv[3:6]), *sys.argv[6:])))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(_REPO), env_id, str(steps), str(resets), str(env_repeat)]
            + ([davis_dir] if davis_dir else []),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:  # reported, and the other envs still measured
            reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message"
            failed.append(f"{env_id}: {reason}")
            continue
        m = json.loads(result.stdout.strip().splitlines()[-1])
        rate = m["steps_per_s"]
        if env_id == dmcgb.env_id(task, "train"):
            base = rate
        cost = f"{(base / rate - 1) * 100:+.1f}%" if base and env_id.startswith(f"dmcgb/{task}") else ""

        def ms(value):
            return "-" if value is None else f"{value:.0f}"

        rows.append(
            [
                env_id,
                f"{rate:.1f}",
                cost,
                ms(m["first_reset_ms"]),
                ms(m["episode_reset_ms"]),
                ms(m["short_reset_ms"]),
                ms(m["reseeded_reset_ms"]),
                f"{m['rss_made_mib'] - m['rss_start_mib']:.0f}",
                f"{m['rss_first_mib'] - m['rss_start_mib']:.0f}",
                f"{m['rss_steady_mib'] - m['rss_start_mib']:.0f}",
                f"{m['video_held_mib']:.1f}",
            ]
        )
    _table(
        f"Per env, each in a fresh process (84x84, action repeat {repeat}, robot tasks 1; {steps} "
        f"agent steps timed, step() only; then {resets} more episodes of one step each)",
        [
            "env",
            "agent steps/s",
            "cost per step vs train",
            "first reset ms",
            "reset after a full episode ms",
            "reset after a 1-step episode ms (median)",
            "re-seeded reset ms",
            "RSS after make MiB",
            "RSS after 1st reset MiB",
            f"RSS after {resets} more episodes MiB",
            "video held MiB",
        ],
        rows,
    )
    print("RSS columns: growth over the process's RSS after `import dmcgb`.")
    for line in failed:
        print(f"not measured: {line}")
    if failed:
        sys.exit(1)


def bench_frames(repeats: int) -> None:
    import cv2
    import gymnasium as gym

    import dmcgb
    from dmcgb import chroma_key
    from dmcgb.video import resize_frame
    from tests.dmcgb import benchmark_reference as reference

    env = gym.make("dmcgb/WalkerWalk-videohard-v0").unwrapped
    env.reset(seed=0)
    green = env._camera(84).render().copy()
    background = env._background.result()[0]
    env.close()
    capture = cv2.VideoCapture(str(dmcgb.data.ensure(dmcgb.data.video_asset("video_hard", 1))))
    raw = cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB)
    capture.release()

    def per_call(fn, number):
        return timeit.timeit(fn, number=number) / number

    def cv2_float_resize():  # what dmcgb did before: OpenCV's bilinear on float32
        scaled = cv2.resize(raw.astype(np.float32) / np.float32(255), (84, 84), interpolation=cv2.INTER_LINEAR)
        return (scaled * np.float32(255)).astype(np.uint8)

    chroma_key.key_table()  # built once per process; not part of the per-frame cost
    resize_frame(raw, 84)  # the resizer's taps are computed once per (input size, output size)
    # Alternate the two resizes, three rounds each, and keep each one's best round.
    exact, opencv = [], []
    for _ in range(3):
        exact.append(per_call(lambda: resize_frame(raw, 84), repeats))
        opencv.append(per_call(cv2_float_resize, repeats))
    start = time.perf_counter()
    chroma_key._build_table()
    table = time.perf_counter() - start
    _table(
        "Per-frame costs (one thread)",
        ["step", "time"],
        [
            ["decode one 352x352 video_hard frame (OpenCV)", f"{_decode_ms():.3f} ms"],
            ["resize 352 -> 84, benchmark arithmetic (dmcgb)", f"{min(exact) * 1e3:.4f} ms"],
            ["resize 352 -> 84, OpenCV float bilinear (before)", f"{min(opencv) * 1e3:.4f} ms"],
            ["key mask (lookup table)", f"{per_call(lambda: chroma_key.key_mask(green), repeats) * 1e3:.4f} ms"],
            ["mask + composite (dmcgb)", f"{per_call(lambda: chroma_key.chroma_key(green, background), repeats) * 1e3:.4f} ms"],
            ["benchmark per-pixel loop", f"{per_call(lambda: reference.composite(green, background), 3) * 1e3:.2f} ms"],
            ["lookup table build (once per process)", f"{table:.2f} s"],
        ],
    )


def _decode_ms() -> float:
    import cv2

    import dmcgb

    path = str(dmcgb.data.ensure(dmcgb.data.video_asset("video_hard", 2)))
    capture = cv2.VideoCapture(path)
    start = time.perf_counter()
    frames = 0
    while frames < 200 and capture.read()[0]:
        frames += 1
    capture.release()
    return (time.perf_counter() - start) / frames * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="WalkerWalk")
    parser.add_argument("--steps", type=int, default=300, help="agent steps timed per env")
    parser.add_argument("--resets", type=int, default=20, help="further 1-step episodes per env")
    parser.add_argument("--repeat", type=int, default=4, help="action repeat of the DMC tasks")
    parser.add_argument("--data-dir", help="DMControl-GB data dir (default: DMCGB_DATA_DIR or the cache)")
    parser.add_argument("--davis-dir", help="DAVIS folder for the distractingcs rows, or 'synthetic'")
    args = parser.parse_args()
    if args.data_dir:
        os.environ["DMCGB_DATA_DIR"] = args.data_dir
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # chosen once here; the per-env processes inherit MUJOCO_GL
    print(_conditions())
    bench_frames(repeats=2000)
    bench_modes(args.task, args.steps, args.resets, args.repeat, _davis_dir(args.davis_dir))


if __name__ == "__main__":
    main()
