"""One GPU, at most 8 minutes: what this project's parts cost there, and the wall time of a
500k-step SG-SAC run that implies.

    python bench/gpu_check.py --out gpu-check           # on a machine with one CUDA GPU
    python bench/gpu_check.py --quick --out /tmp/check  # the same code, tiny sizes, on a CPU

Measured in this order, each on its own (the most useful first, so a tight budget drops the
least useful):

1. env: agent steps/s of ``dmcgb/<task>-<mode>-v0`` (action repeat 4: four physics steps, one
   84x84 render, compositing) per mode whose data is cached; missing modes are listed with
   the command that fetches them, never fetched.
2. updates: SAC and SG-SAC updates/s at batch 128 on random data already on the device
   (overlay images too), eager float32.
3. replay: ``ReplayBuffer.sample(128)`` and ``add()`` per second on the device.
4. training: two short SG-SAC runs of ``sgqn.train`` (the paper's networks, batch 128,
   procedural overlay images), with and without overlap: agent steps/s of the episodes that
   start after the seed updates, and the run's wall time.
5. updates, continued: eager with bfloat16 autocast, then ``--compile`` (inductor) in
   float32 and bfloat16. bfloat16 is timed only if one update's losses stay within 5 % of
   float32's (bfloat16 keeps 8 bits of mantissa, 0.4 % per rounding, over ~40 layers of
   forward and backward passes); a compiled variant reports its compile seconds.
6. extrapolation: a 500k-step run of the paper preset = 500k steps at the overlap run's rate
   + its 50 evaluations (30 episodes x 3 modes x 250 steps each) at the env rates, over the
   evaluation worker processes ``sgqn.train`` would start (the spare cores); a mode without
   data counts at the train mode's rate, saying so; the evaluation's own policy passes,
   checkpoints and figures are left out (a few % at most).

Writes ``gpu_check.json`` and ``gpu_check.md`` under ``--out`` and prints the Markdown. With
``--quick`` (no GPU needed): tiny networks on 32x32 pixels, batch 8, 20-step episodes (action
repeat 50), a few steps of each part, on the CPU, within 2 minutes on a quiet 2-core machine
(the compile is most of it; inductor caches its kernels on disk). The time budget (``--budget``) skips the
parts that would start too late, saying so in the output.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

_REPO = Path(__file__).resolve().parents[1]

_PAPER_STEPS = 500_000
_EVAL_EVERY, _EVAL_EPISODES, _EVAL_MODES = 10_000, 30, ("train", "videoeasy", "videohard")
_BF16_RTOL = 0.05  # losses of one bfloat16 update against float32's
_TINY = {"num_conv_layers": 3, "num_filters": 16, "hidden_dim": 64}


@dataclass
class _Sizes:
    """What one check measures: the GPU's sizes, or --quick's."""

    device: str
    task: str
    action_repeat: int
    image_size: int
    batch: int
    networks: dict[str, int]
    env_steps: int
    update_repeats: int
    replay_fill: int
    replay_samples: int
    train_steps: int
    init_steps: int
    episode_steps: int
    budget: float  # seconds


def _sizes(args: argparse.Namespace) -> _Sizes:
    if args.quick:  # 32x32 pixels, 20-step episodes: the second episode runs after the seeds
        return _Sizes("cpu", "CartpoleBalance", 50, 32, 8, _TINY, 10, 3, 300, 20, 40, 10, 20, 120)
    return _Sizes("cuda", "WalkerWalk", 4, 84, 128, {}, 300, 20, 20_000, 200, 1000, 250, 250, 480)


class _Clock:
    """The check's time budget: parts that would start too late are skipped, and said so."""

    def __init__(self, budget: float) -> None:
        self.start, self.budget = time.perf_counter(), budget
        self.skipped: list[str] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, part: str, needs: float) -> bool:
        if self.elapsed() + needs <= self.budget:
            return True
        self.skipped.append(f"{part} (needs ~{needs:.0f} s, {self.elapsed():.0f} s used)")
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- conditions -----------------------------------------------------------------------------


def _conditions(device: torch.device) -> dict[str, Any]:
    from importlib.metadata import version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    gpu = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    return {
        "device": str(device),
        "gpu": gpu,
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "load_average": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "mujoco": version("mujoco"),
        "python": platform.python_version(),
    }


# --- 1. env ---------------------------------------------------------------------------------


def _missing_data(env_id: str) -> str | None:
    """The fetch command of a mode whose data is not cached, else None."""
    from dmcgb import data
    from dmcgb.protocol.modes import data_groups

    groups = data_groups(env_id)
    missing = [s.name for s in data.status(groups) if s.state not in ("cached", "extracted")]
    return f"python -m dmcgb.data fetch {' '.join(groups)}" if missing else None


def env_rates(sizes: _Sizes, modes: list[str]) -> dict[str, dict[str, Any]]:
    """Agent steps/s of each mode's env (random actions, resets included)."""
    from dmcgb.protocol.envs import make_env

    rates: dict[str, dict[str, Any]] = {}
    for mode in modes:
        env_id = f"dmcgb/{sizes.task}-{mode}-v0"
        missing = _missing_data(env_id)
        if missing:
            rates[mode] = {"env_id": env_id, "skipped": f"no data: {missing}"}
            continue
        env = make_env(env_id, 0, 3, sizes.action_repeat, sizes.image_size)
        try:
            env.reset(seed=0)
            for _ in range(3):  # the first render creates the GL context
                env.step(env.action_space.sample())
            start = time.perf_counter()
            for _ in range(sizes.env_steps):
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    env.reset()
            seconds = time.perf_counter() - start
        finally:
            env.close()
        rates[mode] = {"env_id": env_id, "steps_per_s": sizes.env_steps / seconds}
    return rates


# --- 2. and 5. updates ----------------------------------------------------------------------


class _Images:
    """Random overlay images already on the device (decoding is a background job)."""

    def __init__(self, size: int, device: torch.device, pool: int = 512) -> None:
        self.pool = torch.randint(0, 256, (pool, 3, size, size), dtype=torch.uint8, device=device)

    def images(self, start: int, n: int) -> torch.Tensor:
        return self.pool[torch.randint(0, len(self.pool), (n,), device=self.pool.device)]


def _agent(algo: str, sizes: _Sizes, device: torch.device, amp: bool, compiled: bool):
    from sgqn.agent.factory import build_agent
    from sgqn.config import Config

    cfg = Config(
        algo=algo,
        batch_size=sizes.batch,
        image_size=sizes.image_size,
        amp=amp,
        compile=compiled,
        **sizes.networks,
    )
    torch.manual_seed(0)  # the same weights for every variant
    return build_agent(cfg.obs_shape, (6,), cfg, device, _Images(sizes.image_size, device))


def _random_replay(sizes: _Sizes, device: torch.device):
    from sgqn.train.replay import ReplayBuffer

    size = sizes.image_size
    replay = ReplayBuffer(sizes.replay_fill, (3, size, size), 6, 3, device)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (16, 9, size, size), dtype=np.uint8)  # adds are timed
    actions = rng.uniform(-1, 1, (16, 6)).astype(np.float32)
    for i in range(sizes.replay_fill):
        obs, next_obs = frames[i % 16], frames[(i + 1) % 16]
        replay.add(obs, actions[i % 16], 0.5, next_obs, False, i % 250 == 249)
    return replay


def update_rate(
    algo: str, sizes: _Sizes, device: torch.device, replay, amp: bool, compiled: bool
) -> dict[str, Any]:
    """Updates/s of one variant; compile seconds when compiled."""
    agent = _agent(algo, sizes, device, amp, compiled)
    batch = replay.sample(sizes.batch)
    _sync(device)
    start = time.perf_counter()
    agent.update(batch, 2, replay)  # every kind of pass: the compilation, if any
    agent.update(batch, 3, replay)
    _sync(device)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for step in range(4, 4 + sizes.update_repeats):
        agent.update(batch, step, replay)
    _sync(device)
    seconds = time.perf_counter() - start
    result = {"algo": algo, "amp": amp, "compiled": compiled}
    result["updates_per_s"] = sizes.update_repeats / seconds
    if compiled:
        result["compile_s"] = warmup
    agent.close()
    return result


def bf16_difference(algo: str, sizes: _Sizes, device: torch.device, replay) -> float:
    """Largest relative difference of one update's losses, bfloat16 autocast vs float32."""
    batch = replay.sample(sizes.batch)
    metrics = []
    for amp in (False, True):
        agent = _agent(algo, sizes, device, amp, compiled=False)
        torch.manual_seed(1)
        metrics.append({k: v.float().item() for k, v in agent.update(batch, 2, replay).items()})
        agent.close()
    fp32, bf16 = metrics
    losses = [k for k in fp32 if k.endswith("_loss") or k == "q1"]
    return max(abs(bf16[k] - fp32[k]) / max(abs(fp32[k]), 1e-6) for k in losses)


# --- 3. replay ------------------------------------------------------------------------------


def replay_rates(sizes: _Sizes, device: torch.device) -> tuple[dict[str, float], Any]:
    start = time.perf_counter()
    replay = _random_replay(sizes, device)
    _sync(device)
    adds_per_s = sizes.replay_fill / (time.perf_counter() - start)
    replay.sample(sizes.batch)
    _sync(device)
    start = time.perf_counter()
    for _ in range(sizes.replay_samples):
        replay.sample(sizes.batch)
    _sync(device)
    samples_per_s = sizes.replay_samples / (time.perf_counter() - start)
    return {"adds_per_s": adds_per_s, "samples_per_s": samples_per_s}, replay


# --- 4. training ----------------------------------------------------------------------------


def training_rate(sizes: _Sizes, device: torch.device, out: Path, overlap: bool) -> dict:
    """A short SG-SAC run of sgqn.train; steps/s of the episodes after the seed updates."""
    from sgqn import train
    from sgqn.config import Config

    run_dir = out / "runs" / ("overlap" if overlap else "no-overlap")
    cfg = Config(
        env=f"dmcgb/{sizes.task}-train-v0",
        algo="sgqn",
        seed=1,
        device=str(device),
        action_repeat=sizes.action_repeat,
        image_size=sizes.image_size,
        steps=sizes.train_steps,
        init_steps=sizes.init_steps,
        eval_freq=sizes.train_steps,
        eval_episodes=1,
        eval_modes=("train",),
        save_freq=sizes.train_steps,
        saliency_freq=0,
        batch_size=sizes.batch,
        overlay_source="embedded",
        overlap=overlap,
        run_dir=str(run_dir),
        **sizes.networks,
    )
    start = time.perf_counter()
    train.main(cfg, progress=False)
    wall = time.perf_counter() - start
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # Episodes that start after the seed updates (which run at the first step >= init_steps).
    clean = [r for r in rows if int(r["step"]) - int(r["episode_steps"]) > sizes.init_steps]
    rates = [float(r["steps_per_s"]) for r in clean]
    return {
        "overlap": overlap,
        "steps": sizes.train_steps,
        "wall_s": wall,
        "episodes_timed": len(rates),
        "steps_per_s": statistics.mean(rates) if rates else None,
    }


# --- 6. extrapolation -----------------------------------------------------------------------


def extrapolate(env: dict, training: list[dict]) -> dict[str, Any] | None:
    """Hours of a 500k-step run of the paper preset, from the measured rates.

    Evaluation as ``sgqn.train`` runs it: the modes step together, each over ``workers``
    processes (the spare cores shared by the modes), or all in the training process when
    there is one worker per mode. A mode whose data was missing is taken at the train
    mode's rate (an underestimate: its videos or colours cost more) and named in
    ``assumed``. None without the overlap run's rate or the train mode's.
    """
    from dmcgb.protocol.mode_envs import default_workers

    rate = next((t["steps_per_s"] for t in training if t["overlap"]), None)
    if not rate or "steps_per_s" not in env.get("train", {}):
        return None
    assumed = [m for m in _EVAL_MODES if "steps_per_s" not in env.get(m, {})]
    rates = {m: env["train" if m in assumed else m]["steps_per_s"] for m in _EVAL_MODES}
    workers = min(default_workers(len(_EVAL_MODES)), _EVAL_EPISODES)
    steps = (_PAPER_STEPS // _EVAL_EVERY) * _EVAL_EPISODES * 250  # 250 agent steps an episode
    per_mode = [steps / rates[m] for m in _EVAL_MODES]
    evaluation = sum(per_mode) if workers == 1 else max(per_mode) / workers
    train_s = _PAPER_STEPS / rate
    return {
        "training_h": train_s / 3600,
        "evaluation_serial_h": sum(per_mode) / 3600,
        "eval_workers_per_mode": workers,
        "evaluation_h": evaluation / 3600,
        "total_h": (train_s + evaluation) / 3600,
        "assumed": assumed,
    }


# --- output ---------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    return (
        "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    )


def markdown(report: dict[str, Any]) -> str:
    c = report["conditions"]
    lines = [
        f"# bench/gpu_check.py{' --quick' if report['quick'] else ''}",
        "",
        f"{c['gpu'] or 'no GPU'} | {c['cpu']} | load average {c['load_average']} | torch "
        f"{c['torch']} (CUDA {c['cuda']}, cuDNN {c['cudnn']}) | {c['torch_threads']} torch "
        f"threads | MUJOCO_GL={c['mujoco_gl']} | {report['image_size']}x{report['image_size']} "
        f"pixels | batch {report['batch']} | networks {report['networks'] or 'paper'} | "
        f"{report['elapsed_s']:.0f} s in all",
        "",
        "| env mode | agent steps/s |",
        "| --- | --- |",
    ]
    for row in report["env"].values():
        lines.append(
            f"| {row['env_id']} | {_fmt(row.get('steps_per_s')) if 'steps_per_s' in row else row['skipped']} |"
        )
    lines += ["", "| update | precision | updates/s | compile s |", "| --- | --- | --- | --- |"]
    for row in report["updates"]:
        kind = "compiled" if row["compiled"] else "eager"
        precision = "bf16 autocast" if row["amp"] else "float32"
        lines.append(
            f"| {row['algo']} {kind} | {precision} | {_fmt(row.get('updates_per_s'))} | "
            f"{_fmt(row.get('compile_s'))} |"
        )
    if c["gpu"] is None:
        lines.append("\n(on a CPU the agent's autocast is off: the bf16 rows run float32)")
    for algo, diff in report["bf16_difference"].items():
        verdict = "timed" if diff <= _BF16_RTOL else "not timed"
        lines.append(
            f"\nbf16 vs float32, {algo}: losses differ by up to {100 * diff:.2f} % ({verdict})"
        )
    replay = report["replay"]
    if replay:
        lines += [
            "",
            f"replay: {_fmt(replay['samples_per_s'])} samples of {report['batch']}/s, "
            f"{_fmt(replay['adds_per_s'], 0)} adds/s",
        ]
    lines += ["", "| training run (sgqn.train) | steps/s after the seed updates | wall s |"]
    lines.append("| --- | --- | --- |")
    for row in report["training"]:
        name = "overlap" if row["overlap"] else "--no-overlap"
        lines.append(
            f"| {name}, {row['steps']} steps | {_fmt(row['steps_per_s'], 2)} | {_fmt(row['wall_s'], 0)} |"
        )
    x = report["extrapolation"]
    if x:
        lines += [
            "",
            f"500k steps of the paper preset: {x['total_h']:.2f} h = training "
            f"{x['training_h']:.2f} h + evaluation {x['evaluation_h']:.2f} h "
            f"({x['evaluation_serial_h']:.2f} h in one process; {x['eval_workers_per_mode']} "
            "worker(s) per mode, the modes side by side)",
        ]
        if x["assumed"]:
            lines.append(
                f"(no data for {', '.join(x['assumed'])}: taken at the train mode's rate, "
                "an underestimate)"
            )
    if report["skipped"]:
        lines += ["", "skipped (time budget): " + "; ".join(report["skipped"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the JSON and Markdown")
    parser.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (a check)")
    parser.add_argument("--modes", default="train,videoeasy,videohard,coloreasy,colorhard")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds (default 480; quick 120)"
    )
    args = parser.parse_args(argv)
    sizes = _sizes(args)
    if args.budget:
        sizes.budget = args.budget
    if sizes.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: torch sees no CUDA GPU; run with --quick for the CPU check", file=sys.stderr
        )
        return 2
    from dmcgb.rendering import ensure_gl_backend
    from sgqn.train.prepare import default_threads

    ensure_gl_backend()
    torch.set_num_threads(default_threads())
    device = torch.device(sizes.device)  # cudnn.benchmark stays off, as in sgqn.train
    clock = _Clock(sizes.budget)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "quick": args.quick,
        "conditions": _conditions(device),
        "batch": sizes.batch,
        "image_size": sizes.image_size,
        "networks": sizes.networks,
        "env": env_rates(sizes, [m for m in args.modes.split(",") if m]),
        "updates": [],
        "bf16_difference": {},
        "replay": None,
        "training": [],
    }
    replay_rows, replay = replay_rates(sizes, device)
    report["replay"] = replay_rows
    algos = ("sac", "sgqn")
    for algo in algos:
        report["updates"].append(update_rate(algo, sizes, device, replay, False, False))
    for overlap in (True, False):
        if clock.allows(f"training run, overlap {overlap}", 0.1 * sizes.budget):
            report["training"].append(training_rate(sizes, device, out, overlap))
    for algo in algos:
        report["bf16_difference"][algo] = bf16_difference(algo, sizes, device, replay)
    # SG-SAC first: its graphs include SAC's, so SAC's compile then mostly reuses them.
    for amp, compiled, needs in ((True, False, 0.02), (False, True, 0.15), (True, True, 0.15)):
        for algo in algos[::-1]:
            if amp and report["bf16_difference"][algo] > _BF16_RTOL:
                continue
            kind = f"{algo} {'compiled' if compiled else 'eager'} {'bf16' if amp else 'float32'}"
            if clock.allows(kind, needs * sizes.budget):
                report["updates"].append(update_rate(algo, sizes, device, replay, amp, compiled))
    report["extrapolation"] = extrapolate(report["env"], report["training"])
    report["skipped"] = clock.skipped
    report["elapsed_s"] = clock.elapsed()
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "gpu_check.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
