"""Train SG-SAC or a baseline on a dmcgb env: ``python -m sgqn.train --env ... --algo sgqn``.

The protocol is the paper's (and the authors' code's): frame stack 3, action repeat 4,
``init_steps`` agent steps of uniform random actions, then at step ``init_steps`` that many
updates at once and one update per agent step after; evaluation on ``eval_modes`` every
``eval_freq`` agent steps. Units: ``--steps`` counts agent steps, ``--frames`` control steps
(frames = steps * action_repeat); results record both.

A run directory holds ``config.json`` (config, package versions, git revision),
``metrics.csv`` (one row per training episode), ``eval.csv``, ``checkpoint.pt`` with the replay
buffer's chunks in ``replay/``, ``saliency/*.png``, optional ``videos/``, and the final
``results.csv`` / ``results.json``. ``--resume`` continues a run from its checkpoint; a larger
``--steps`` extends it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import random
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgqn.checkpoint import (
    CHECKPOINT_NAME,
    config_from_dict,
    config_to_dict,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from sgqn.config import ALGOS, Config, apply_preset
from sgqn.envs import eval_env_id, make_env, to_chw
from sgqn.evaluation import FIGURE, TRAIN, EvalEnvs, default_workers, episode_seed, evaluate
from sgqn.files import atomic_path, write_csv

__all__ = [
    "main",
    "cli",
    "ConfigError",
    "seed_everything",
    "resolve_config",
    "results_table",
]

_REPO = Path(__file__).resolve().parents[1]
_SALIENCY_STEPS = (10, 60)  # agent steps into an episode at which figure frames are taken
_SALIENCY_MODES = ("train", "videohard")


class ConfigError(ValueError):
    """A flag value that cannot work; the message names the flag and the fix."""


# --- set-up ------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_config(cfg: Config) -> tuple[Config, torch.device]:
    """Pick the device and preset, and check the flags.

    Returns:
        The config with its preset applied, and the training device.

    Raises:
        ConfigError: a flag value that cannot work, or an unknown env id in --env/--eval-modes.
    """
    device = torch.device(cfg.device) if cfg.device else _default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg.device} asked for CUDA, but torch sees no GPU")
    preset = cfg.preset or ("paper" if device.type == "cuda" else "cpu-demo")
    try:
        cfg = apply_preset(cfg, preset)
        total = cfg.total_steps()
    except ValueError as error:
        raise ConfigError(str(error)) from error
    if cfg.algo not in ALGOS:
        raise ConfigError(f"--algo must be one of {ALGOS}, actual value: {cfg.algo!r}")
    checks = [
        (total > 0, f"--steps/--frames must give at least 1 agent step, actual value: {total}"),
        (
            0 <= cfg.init_steps < total,
            f"--init-steps must be in [0, {total}), actual value: {cfg.init_steps}",
        ),
        (cfg.eval_freq > 0, f"--eval-freq must be > 0, actual value: {cfg.eval_freq}"),
        (cfg.eval_episodes > 0, f"--eval-episodes must be > 0, actual value: {cfg.eval_episodes}"),
        (cfg.save_freq > 0, f"--save-freq must be > 0, actual value: {cfg.save_freq}"),
        (
            cfg.saliency_freq >= 0,
            f"--saliency-freq must be >= 0, actual value: {cfg.saliency_freq}",
        ),
        (cfg.batch_size > 0, f"--batch-size must be > 0, actual value: {cfg.batch_size}"),
        (len(cfg.eval_modes) > 0, "--eval-modes must name at least one mode, e.g. train"),
        (
            cfg.replay_capacity is None or cfg.replay_capacity > 0,
            f"--replay-capacity must be > 0, actual value: {cfg.replay_capacity}",
        ),
        *cfg.algo_checks(),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    _check_env_ids(cfg)
    return cfg, device


def _check_env_ids(cfg: Config) -> None:
    """Fail before any work on an unknown env or mode (with the registry's suggestions)."""
    import gymnasium as gym

    import dmcgb  # noqa: F401  (registers the ids)

    ids = [cfg.env] + [eval_env_id(cfg.env, mode) for mode in cfg.eval_modes]
    for env_id in ids:
        if env_id.startswith("dmcgb/"):
            from dmcgb.registration import parse_env_id

            parse_env_id(env_id)  # UnknownTask: "... did you mean ...?"
        elif env_id not in gym.registry:
            gym.spec(env_id)  # gymnasium's own error with suggestions


def _default_run_dir(cfg: Config) -> Path:
    name = cfg.env.split("/")[-1]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{cfg.algo}-s{cfg.seed}-{stamp}"


def _git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.TimeoutExpired):
        revision, dirty = "", False
    return {"git_revision": revision or "unknown", "git_dirty": dirty}


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("dmcgb-sgqn", "torch", "numpy", "gymnasium", "mujoco", "dm_control", "tyro"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    import sgqn

    versions["sgqn"] = sgqn.__version__
    return versions


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _run_record(cfg: Config, device: torch.device) -> dict[str, Any]:
    return {
        "config": config_to_dict(cfg),
        "total_steps": cfg.total_steps(),
        "total_frames": cfg.total_steps() * cfg.action_repeat,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        **_git_revision(),
        "command": sys.argv,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _prepare_run(cfg: Config) -> tuple[Config, torch.device, Path, dict[str, Any] | None]:
    """Resolve the config, the run dir and, for --resume, the checkpoint."""
    if not cfg.resume:
        cfg, device = resolve_config(cfg)
        run_dir = Path(cfg.run_dir) if cfg.run_dir else _default_run_dir(cfg)
        if (run_dir / CHECKPOINT_NAME).exists():
            raise ConfigError(
                f"{str(run_dir)!r} already holds a run; pass --resume to continue it, or "
                "another --run-dir"
            )
        cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
        return cfg, device, run_dir, None
    if not cfg.run_dir:
        raise ConfigError("--resume needs --run-dir DIR, the run to continue")
    run_dir = Path(cfg.run_dir)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_NAME)
    saved = config_from_dict(checkpoint["config"])
    # The saved config wins; only the run length and the device may change on resume.
    overrides: dict[str, Any] = {"resume": True, "run_dir": str(run_dir), "device": cfg.device}
    if cfg.steps is not None or cfg.frames is not None:
        overrides.update(steps=cfg.steps, frames=cfg.frames)
    resumed, device = resolve_config(dataclasses.replace(saved, **overrides))
    return resumed, device, run_dir, checkpoint


# --- evaluation --------------------------------------------------------------------------


def results_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of per-mode return mean and std."""
    lines = [f"{'mode':<12} {'return mean':>12} {'std':>9} {'episodes':>9}"]
    for r in rows:
        lines.append(
            f"{r['mode']:<12} {r['return_mean']:>12.1f} {r['return_std']:>9.1f} {r['episodes']:>9d}"
        )
    return "\n".join(lines)


def _result_rows(cfg: Config, step: int, returns: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [
        {
            "env": eval_env_id(cfg.env, mode),
            "mode": mode,
            "algo": cfg.algo,
            "seed": cfg.seed,
            "step": step,
            "frames": step * cfg.action_repeat,
            "return_mean": float(np.mean(values)),
            "return_std": float(np.std(values)),
            "episodes": len(values),
        }
        for mode, values in returns.items()
    ]


def write_results(run_dir: Path, rows: list[dict[str, Any]], name: str = "results") -> None:
    """results.csv and results.json (atomic), one row per mode."""
    write_csv(run_dir / f"{name}.csv", rows, list(rows[0]))
    _write_json(run_dir / f"{name}.json", {"results": rows})


def collect_saliency_observations(
    agent: Any, envs: dict[str, Any], seed: int, at: tuple[int, ...] = _SALIENCY_STEPS
) -> dict[str, list[np.ndarray]]:
    """Observations taken ``at`` these agent steps of one deterministic episode per mode."""
    observations: dict[str, list[np.ndarray]] = {}
    for mode, env in envs.items():
        obs, _ = env.reset(seed=episode_seed(seed, FIGURE, mode))
        chosen = []
        for t in range(max(at) + 1):
            chw = to_chw(obs)
            if t in at:
                chosen.append(chw)
            obs, _, terminated, truncated, _ = env.step(agent.act(chw, sample=False))
            if terminated or truncated:
                break
        observations[mode] = chosen
    return observations


def write_saliency_figure(agent: Any, envs: EvalEnvs, seed: int, path: Path) -> Path:
    """Saliency figure of train and video_hard frames (the modes among ``envs``)."""
    from sgqn.figures import saliency_rows, save_saliency_figure

    modes = [m for m in _SALIENCY_MODES if m in envs.env_ids] or list(envs.env_ids)[:1]
    chosen = {m: envs.single(m) for m in modes}
    rows = saliency_rows(agent, collect_saliency_observations(agent, chosen, seed))
    return save_saliency_figure(rows, path, title=path.stem)


# --- training ----------------------------------------------------------------------------


def _make_envs(cfg: Config, eval_workers: int | None) -> tuple[Any, EvalEnvs]:
    env = make_env(cfg.env, cfg.seed, cfg.frame_stack, cfg.action_repeat, cfg.render_size)
    workers = eval_workers or default_workers(len(cfg.eval_modes))
    try:
        eval_envs = EvalEnvs(
            {mode: eval_env_id(cfg.env, mode) for mode in cfg.eval_modes},
            cfg.seed,
            cfg.frame_stack,
            cfg.action_repeat,
            cfg.render_size,
            workers=min(workers, cfg.eval_episodes),
        )
    except BaseException:
        env.close()
        raise
    return env, eval_envs


class _MetricMeans:
    """Running sums of the update metrics (device tensors: no host sync until :meth:`pop`)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        for key, value in metrics.items():
            value = value.detach()
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
            self.counts[key] = self.counts.get(key, 0) + 1

    def pop(self) -> dict[str, float]:
        """Means since the last pop, as floats (one host sync)."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        means = torch.stack([self.sums[k].float() / self.counts[k] for k in keys]).tolist()
        self.sums.clear()
        self.counts.clear()
        return dict(zip(keys, means, strict=True))


def _record_resume(record_path: Path, cfg: Config, step: int) -> dict[str, Any]:
    """config.json of a resumed run: the original record, the new length, when it resumed."""
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    record.setdefault("resumed", []).append({"at_step": step, "time": now})
    total = cfg.total_steps()
    record.update(
        config=config_to_dict(cfg), total_steps=total, total_frames=total * cfg.action_repeat
    )
    return record


def _evaluate_and_log(
    agent: Any, eval_envs: EvalEnvs, cfg: Config, step: int, run_dir: Path, logger: Any
) -> list[dict[str, Any]]:
    """Evaluate every mode, log the rows and write results_latest.{csv,json}."""
    video_dir = run_dir / "videos" if cfg.save_video else None
    returns = evaluate(agent, eval_envs, cfg.eval_episodes, cfg.seed, video_dir, f"step{step:08d}_")
    rows = _result_rows(cfg, step, returns)
    for row in rows:
        logger.log_eval(row)
    write_results(run_dir, rows, name="results_latest")
    return rows


def main(cfg: Config, progress: bool = True, eval_workers: int | None = None) -> Path:
    """Train (or, with ``cfg.resume``, continue) a run; return its run directory.

    Args:
        cfg: the run's configuration (see :class:`sgqn.config.Config`).
        progress: show the tqdm progress bar.
        eval_workers: evaluation processes per mode; default the spare cores (1 on a
            2-core machine: evaluation in this process).

    Raises:
        ConfigError: bad flag values.
        dmcgb.errors.UnknownTask: an unknown env id or mode.
        dmcgb.errors.MissingData: a test distribution's data is not available.
        sgqn.replay.InsufficientMemory: the replay buffer does not fit on the device.
    """
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # before anything imports mujoco's renderer
    from sgqn.agent import make_agent
    from sgqn.logger import Logger
    from sgqn.replay import ReplayBuffer

    cfg, device, run_dir, checkpoint = _prepare_run(cfg)
    total = cfg.total_steps()
    seed_everything(cfg.seed)
    env, eval_envs = _make_envs(cfg, eval_workers)  # fails early on missing video data
    action_space = env.action_space
    agent = make_agent(cfg, action_space.shape, device)
    cfg = agent.cfg  # records the overlay images' source
    capacity = cfg.replay_capacity or total
    frame_shape = (3, cfg.render_size, cfg.render_size)
    replay = ReplayBuffer(capacity, frame_shape, action_space.shape[0], cfg.frame_stack, device)
    explore_rng = np.random.default_rng([cfg.seed, 3])
    step, episode = 0, 0
    run_dir.mkdir(parents=True, exist_ok=True)
    record_path = run_dir / "config.json"
    if checkpoint is None:
        record = _run_record(cfg, device)
    else:
        agent.load_state_dict(checkpoint["agent"])
        replay.load(run_dir / "replay", checkpoint["replay"])
        set_rng_state(checkpoint["rng"])
        explore_rng.bit_generator.state = checkpoint["explore_rng"]
        step, episode = int(checkpoint["step"]), int(checkpoint["episode"])
        record = _record_resume(record_path, cfg, step)
    _write_json(record_path, record)
    print(f"sgqn.train: run dir {run_dir} | device {device} | preset {cfg.preset}", flush=True)
    print(json.dumps(config_to_dict(cfg), indent=None), flush=True)
    if step >= total:
        print(f"sgqn.train: the run already has {step} of {total} steps", flush=True)

    logger = Logger(run_dir, total, start_step=step, progress=progress)
    if "overlay" in cfg.extra:
        logger.print(f"overlay images: {cfg.extra['overlay']}")

    def save() -> None:
        cursor = replay.save(run_dir / "replay")
        save_checkpoint(
            run_dir / CHECKPOINT_NAME,
            agent=agent,
            cfg=cfg,
            step=step,
            episode=episode,
            replay=cursor,
            action_shape=list(action_space.shape),
            explore_rng=explore_rng.bit_generator.state,
        )

    last_results: list[dict[str, Any]] = []
    next_save = (step // cfg.save_freq + 1) * cfg.save_freq
    metric_means = _MetricMeans()
    obs_chw, episode_return, episode_steps, episode_start = None, 0.0, 0, time.perf_counter()
    try:
        while step < total:
            if obs_chw is None:  # a new episode
                obs, _ = env.reset(seed=episode_seed(cfg.seed, TRAIN, episode))
                obs_chw = to_chw(obs)
                episode_return, episode_steps, episode_start = 0.0, 0, time.perf_counter()

            if step < cfg.init_steps:
                action = explore_rng.uniform(action_space.low, action_space.high).astype(np.float32)
            else:
                action = agent.act(obs_chw, sample=True)
            if step >= cfg.init_steps and len(replay) > 0:
                num_updates = cfg.init_steps if step == cfg.init_steps and step > 0 else 1
                for _ in range(num_updates):
                    metric_means.add(agent.update(replay.sample(cfg.batch_size), step, replay))

            obs, reward, terminated, truncated, _ = env.step(action)
            next_chw = to_chw(obs)
            replay.add(obs_chw, action, float(reward), next_chw, terminated, truncated)
            obs_chw = next_chw
            episode_return += float(reward)
            episode_steps += 1
            step += 1
            logger.step()

            if terminated or truncated:
                elapsed = time.perf_counter() - episode_start
                row = {
                    "step": step,
                    "frames": step * cfg.action_repeat,
                    "episode": episode,
                    "episode_return": episode_return,
                    "episode_steps": episode_steps,
                    "steps_per_s": episode_steps / max(elapsed, 1e-9),
                    **metric_means.pop(),
                }
                logger.log_train(row)
                episode += 1
                obs_chw = None
                if step >= next_save and step < total:
                    save()  # at an episode boundary: a resumed run starts the next episode
                    next_save = (step // cfg.save_freq + 1) * cfg.save_freq

            if step % cfg.eval_freq == 0 or step == total:
                last_results = _evaluate_and_log(agent, eval_envs, cfg, step, run_dir, logger)
            if cfg.saliency_freq and (step % cfg.saliency_freq == 0 or step == total):
                path = run_dir / "saliency" / f"step{step:08d}.png"
                write_saliency_figure(agent, eval_envs, cfg.seed, path)
    except KeyboardInterrupt:
        logger.print(f"interrupted at step {step}; saving a checkpoint, resume with --resume")
        save()
        raise
    finally:
        logger.close()
        agent.close()
        env.close()
        eval_envs.close()
    save()
    if last_results:
        write_results(run_dir, last_results)
        print(f"\nresults at step {step} ({step * cfg.action_repeat} frames), {run_dir}:")
        print(results_table(last_results), flush=True)
    return run_dir


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.train``: parse a Config from the command line and train."""
    import tyro

    from dmcgb.errors import DMCGBError
    from sgqn.replay import InsufficientMemory

    cfg = tyro.cli(Config, args=argv, description=__doc__.split("\n\n")[0])
    try:
        main(cfg)
    except (ConfigError, DMCGBError, InsufficientMemory, FileNotFoundError) as error:
        print(f"sgqn.train: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
