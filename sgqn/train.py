"""Train SG-SAC or a baseline on a dmcgb env: ``python -m sgqn.train --env ... --algo sgqn``.

The protocol is the paper's (and the authors' code's): frame stack 3, action repeat 4,
``init_steps`` agent steps of uniform random actions, then at step ``init_steps`` that many
updates at once and one update per agent step after; evaluation on ``eval_modes`` every
``eval_freq`` agent steps. Units: ``--steps`` counts agent steps, ``--frames`` control steps
(frames = steps * action_repeat); results record both.

A run directory holds ``config.json`` (config, preset, differences from the paper, versions,
git revision), ``metrics.csv`` (one row per training episode), ``evals/step*.json`` (every
evaluation, per episode; ``eval.csv`` is their table), ``checkpoint.pt`` with the replay
buffer's chunks in ``replay/``, ``saliency/*.png``, optional ``videos/``, and, written after
the final checkpoint, ``results.json``: a run that has it is finished.

Runs lose nothing: Ctrl-C or SIGTERM saves a checkpoint and exits (status 130 / 143);
``--resume`` continues exactly where the run stopped (mid-episode: the episode is replayed
from its seed and actions), redoes an evaluation the stop interrupted, and a larger
``--steps`` extends a run.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgqn.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    save_checkpoint,
    set_rng_state,
)
from sgqn.config import PRESET_FIELDS, PRESETS, Config, ConfigError, preset_value
from sgqn.envs import make_env, to_chw
from sgqn.evaluation import (
    TRAIN,
    EvalEnvs,
    episode_seed,
    evaluate_run,
    write_saliency_figure,
)
from sgqn.files import write_json
from sgqn.results import (
    Evaluation,
    evaluation_path,
    format_table,
    is_finished,
    read_evaluation,
    read_evaluations,
    write_evaluation,
)
from sgqn.run import (
    PROG,
    RECORD_NAME,
    announce,
    check_pixels,
    default_threads,
    fetch_eval_data,
    forget_after,
    prepare,
    record_resume,
    run_record,
)
from sgqn.stopping import GracefulStop, Stopped, exit_code

__all__ = ["main", "cli", "parse_args", "Trainer", "ConfigError", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- the training loop -------------------------------------------------------------------


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


@dataclasses.dataclass
class _Episode:
    """The open training episode: enough to rebuild it on resume (seed + actions)."""

    index: int
    actions: list[np.ndarray] = dataclasses.field(default_factory=list)
    ret: float = 0.0
    started: float = dataclasses.field(default_factory=time.perf_counter)


class Trainer:
    """One run: its envs, agent, replay buffer, logger and loop state (DrQ-v2's Workspace).

    :meth:`train` is the loop; the other methods are its steps. Build it with :func:`main`.
    """

    def __init__(
        self,
        cfg: Config,
        device: torch.device,
        run_dir: Path,
        *,
        start_step: int = 0,
        progress: bool = True,
        eval_workers: int | None = None,
    ) -> None:
        from sgqn.agent import make_agent
        from sgqn.logger import Logger
        from sgqn.replay import ReplayBuffer

        self.cfg, self.device, self.run_dir = cfg, device, run_dir
        self.stop = GracefulStop()  # main() installs it around the loop
        self.total = cfg.total_steps()
        seed_everything(cfg.seed)
        self.env = make_env(cfg.env, cfg.seed, cfg.frame_stack, cfg.action_repeat, cfg.render_size)
        self.eval_envs: EvalEnvs | None = None
        self.agent, self.logger = None, None
        try:
            self.eval_envs = EvalEnvs.for_run(
                cfg, cfg.eval_modes, cfg.seed, cfg.eval_episodes, eval_workers
            )
            self.action_space = self.env.action_space
            self.agent = make_agent(cfg, self.action_space.shape, device)
            self.cfg = cfg = self.agent.cfg  # records the overlay images' source
            self.replay = ReplayBuffer(
                cfg.replay_capacity or self.total, (3, cfg.render_size, cfg.render_size),
                self.action_space.shape[0], cfg.frame_stack, device,
            )  # fmt: skip
            run_dir.mkdir(parents=True, exist_ok=True)
            self.logger = Logger(run_dir, self.total, start_step=start_step, progress=progress)
        except BaseException:
            self.close()
            raise
        self.explore_rng = np.random.default_rng([cfg.seed, 3])
        self.metrics = _MetricMeans()
        self.step, self.episodes_done, self.updates = 0, 0, 0
        self.episode: _Episode | None = None  # None between episodes
        self.obs: np.ndarray | None = None  # (3k, H, W) uint8, the open episode's observation
        self.action: np.ndarray | None = None  # chosen for self.step, not yet taken

    # --- the loop ------------------------------------------------------------------------

    def train(self) -> None:
        """Run from the current step to the last, then write the final results."""
        cfg = self.cfg
        self.catch_up()
        while self.step < self.total:
            if self.obs is None:
                self.start_episode()
            if self.action is None:  # set already if a stop came during this step's updates
                self.action = self.choose_action()
            self.update_to(self.step)
            obs, reward, terminated, truncated, _ = self.env.step(self.action)
            next_obs = to_chw(obs)
            self.replay.add(self.obs, self.action, float(reward), next_obs, terminated, truncated)
            self.episode.actions.append(self.action)
            self.episode.ret += float(reward)
            self.obs, self.action = next_obs, None
            self.step += 1
            self.logger.step()
            if terminated or truncated:
                self.end_episode()
            if self.due(cfg.eval_freq):
                self.evaluate()
            if self.due(cfg.saliency_freq):
                self.saliency_figure()
            if self.step % cfg.save_freq == 0 and self.step < self.total:
                self.save()
            self.stop.check()
        self.finish()

    def due(self, every: int) -> bool:
        """Whether this step ends a period of ``every`` steps (0: never) or the run."""
        return bool(every) and (self.step % every == 0 or self.step == self.total)

    def choose_action(self) -> np.ndarray:
        """Uniform random during the seed steps, then a sample of the policy."""
        if self.step < self.cfg.init_steps:
            space = self.action_space
            return self.explore_rng.uniform(space.low, space.high).astype(np.float32)
        return self.agent.act(self.obs, sample=True)

    def update_to(self, step: int) -> None:
        """Update until ``step`` updates are done: ``init_steps`` of them at step ``init_steps``
        (the seed updates), then one per step. Stops between updates if asked to."""
        due = step if step >= max(self.cfg.init_steps, 1) else 0
        if due <= self.updates:
            return
        bar = self.logger.updates_bar(due - self.updates) if due - self.updates > 1 else None
        try:
            while self.updates < due:
                batch = self.replay.sample(self.cfg.batch_size)
                self.metrics.add(self.agent.update(batch, step, self.replay))
                self.updates += 1
                if bar is not None:
                    bar.update()
                self.stop.check()
        finally:
            if bar is not None:
                bar.close()

    def start_episode(self) -> None:
        """Episode k starts from its own seed as the k-th of the env's episode sequence."""
        index = self.episodes_done
        seed = episode_seed(self.cfg.seed, TRAIN, index)
        obs, _ = self.env.reset(seed=seed, options={"episode": index})
        self.obs, self.episode = to_chw(obs), _Episode(index)

    def end_episode(self) -> None:
        """Log the episode's row (with the mean update metrics over it)."""
        episode = self.episode
        steps = len(episode.actions)
        self.logger.log_train(
            {
                "step": self.step,
                "frames": self.step * self.cfg.action_repeat,
                "episode": episode.index,
                "episode_return": episode.ret,
                "episode_steps": steps,
                "steps_per_s": steps / max(time.perf_counter() - episode.started, 1e-9),
                **self.metrics.pop(),
            }
        )
        self.episodes_done += 1
        self.obs, self.episode = None, None

    def evaluate(self) -> Evaluation:
        """Evaluate every mode at this step; write the results file and eval.csv."""
        cfg, step = self.cfg, self.step
        bar = self.logger.eval_progress(step, cfg.eval_episodes * len(cfg.eval_modes))
        try:
            evaluation = evaluate_run(
                self.agent, self.eval_envs, algo=cfg.algo, seed=cfg.seed, step=step,
                action_repeat=cfg.action_repeat, episodes=cfg.eval_episodes,
                video_dir=self.run_dir / "videos" if cfg.save_video else None,
                progress=bar, check_stop=self.stop.check,
            )  # fmt: skip
        finally:
            bar.close()
        write_evaluation(self.run_dir, evaluation)
        self.logger.log_eval(evaluation, read_evaluations(self.run_dir))
        return evaluation

    def saliency_figure(self) -> None:
        """The saliency figure of this step (train and video_hard frames)."""
        write_saliency_figure(self.agent, self.eval_envs, self.cfg.seed, self.figure_path())

    def figure_path(self) -> Path:
        return self.run_dir / "saliency" / f"step{self.step:08d}.png"

    def finish(self) -> None:
        """The final checkpoint, then ``results.json``: a run that has it is finished."""
        self.save()
        final = read_evaluation(evaluation_path(self.run_dir, self.step))
        write_evaluation(self.run_dir, final, final=True)
        self.logger.close()
        print(f"\nresults at step {self.step} ({self.step * self.cfg.action_repeat} frames), "
              f"{self.run_dir}:\n{format_table(final)}", flush=True)  # fmt: skip

    def catch_up(self) -> None:
        """On resume: redo the evaluation (and figure) a stop interrupted at this step."""
        if self.step == 0:
            return
        if self.due(self.cfg.eval_freq) and not evaluation_path(self.run_dir, self.step).is_file():
            self.logger.print(f"evaluating step {self.step}, which the stop interrupted")
            self.evaluate()
        if self.due(self.cfg.saliency_freq) and not self.figure_path().is_file():
            self.saliency_figure()

    # --- checkpoints ---------------------------------------------------------------------

    def save(self) -> None:
        """Checkpoint everything the loop needs to continue exactly from here."""
        episode = self.episode
        save_checkpoint(
            self.run_dir / CHECKPOINT_NAME,
            agent=self.agent,
            cfg=self.cfg,
            step=self.step,
            episode=self.episodes_done,
            updates=self.updates,
            replay=self.replay.save(self.run_dir / "replay"),
            action_shape=list(self.action_space.shape),
            explore_rng=self.explore_rng.bit_generator.state,
            pending_action=None if self.action is None else torch.from_numpy(self.action),
            open_episode=None if episode is None else {
                "actions": torch.from_numpy(np.stack(episode.actions)) if episode.actions
                else torch.zeros(0, *self.action_space.shape),
                "return": episode.ret,
                "obs": torch.from_numpy(self.obs),
            },
            metric_sums=dict(self.metrics.sums),
            metric_counts=dict(self.metrics.counts),
        )  # fmt: skip

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, buffer, RNGs, counters and the open episode."""
        self.agent.load_state_dict(checkpoint["agent"])
        self.replay.load(self.run_dir / "replay", checkpoint["replay"])
        self.explore_rng.bit_generator.state = checkpoint["explore_rng"]
        self.step = int(checkpoint["step"])
        self.episodes_done = int(checkpoint["episode"])
        self.updates = int(checkpoint["updates"])
        pending = checkpoint["pending_action"]
        self.action = None if pending is None else pending.numpy()
        self.metrics.sums = {k: v.to(self.device) for k, v in checkpoint["metric_sums"].items()}
        self.metrics.counts = dict(checkpoint["metric_counts"])
        if checkpoint["open_episode"] is not None:
            self._replay_open_episode(checkpoint["open_episode"])
        set_rng_state(checkpoint["rng"])  # last: replaying the episode must not move them

    def _replay_open_episode(self, saved: dict[str, Any]) -> None:
        """Bring the env back to the checkpoint's mid-episode state: same seed, same actions."""
        self.start_episode()
        for action in saved["actions"].numpy():
            obs, *_ = self.env.step(action)
            self.obs = to_chw(obs)
            self.episode.actions.append(action)
        self.episode.ret = float(saved["return"])
        if not np.array_equal(self.obs, saved["obs"].numpy()):
            self.logger.print(
                "warning: replaying the open episode did not reproduce its last observation; "
                "the env is not deterministic, so the resumed run may differ from an "
                "uninterrupted one"
            )
            self.obs = saved["obs"].numpy()

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()
        if self.agent is not None:
            self.agent.close()
        self.env.close()
        if self.eval_envs is not None:
            self.eval_envs.close()


# --- entry points --------------------------------------------------------------------------


def main(cfg: Config, progress: bool = True, eval_workers: int | None = None) -> Path:
    """Train (or, with ``cfg.resume``, continue) a run; return its run directory.

    Args:
        cfg: the run's configuration (see :class:`sgqn.config.Config`); fields left at None
            take the preset's values.
        progress: show progress bars.
        eval_workers: evaluation processes per mode; default the spare cores (1 on a
            2-core machine: evaluation in this process).

    Raises:
        ConfigError: bad flag values or run directory.
        CheckpointError: --resume from a damaged or unsafe checkpoint.
        dmcgb.errors.UnknownTask: an unknown env id or mode.
        dmcgb.errors.MissingData: a test distribution's data is not available.
        sgqn.replay.InsufficientMemory: the replay buffer does not fit on the device.
        sgqn.stopping.Stopped: SIGINT/SIGTERM stopped the run; a checkpoint was saved.
    """
    modes_from_preset = cfg.eval_modes is None and not cfg.resume
    cfg, device, run_dir, checkpoint = prepare(cfg)
    start = 0 if checkpoint is None else int(checkpoint["step"])
    if checkpoint is not None and start >= cfg.total_steps() and is_finished(run_dir):
        print(f"sgqn.train: {run_dir} is finished ({start} steps); --steps extends it")
        return run_dir
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # before anything imports mujoco's renderer
    check_pixels(cfg.env, cfg.render_size)
    if checkpoint is None:
        optional = cfg.preset == "cpu-demo" and modes_from_preset
        cfg = fetch_eval_data(cfg, optional, lambda m: print(f"sgqn.train: {m}", flush=True))
    else:
        forget_after(run_dir, start, cfg.total_steps())
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads or default_threads())
    announce(cfg, device, run_dir, None if checkpoint is None else start)
    try:
        trainer = Trainer(
            cfg, device, run_dir, start_step=start, progress=progress, eval_workers=eval_workers
        )
        try:
            if checkpoint is None:
                record = run_record(trainer.cfg, str(device), torch.get_num_threads())
            else:
                trainer.restore(checkpoint)
                record = record_resume(run_dir, trainer.cfg, start)
            write_json(run_dir / RECORD_NAME, record, indent=2, default=str)
            with trainer.stop:
                try:
                    trainer.train()
                except Stopped as stopped:
                    trainer.save()
                    trainer.logger.print(
                        f"sgqn.train: {stopped} at step {trainer.step}; checkpoint saved. "
                        f"Continue with: {PROG} --resume --run-dir {run_dir}",
                        file=sys.stderr,
                    )
                    raise
        finally:
            trainer.close()
    finally:
        torch.set_num_threads(previous_threads)
    return run_dir


def _help_hints() -> dict[str, str]:
    """``(paper: X; cpu-demo: Y)`` for the preset fields, instead of ``(default: None)``."""
    hints = {}
    for name in PRESET_FIELDS:
        values = []
        for preset in PRESETS:
            value = preset_value(preset, name, Config.env)  # a DMC task's value
            if isinstance(value, tuple):
                value = " ".join(value)
            values.append(f"{preset}: {value}")
        hints[name] = f"(default from --preset: {'; '.join(values)})"
    for name in ("run_dir", "device", "threads", "frames", "replay_capacity", "saliency_quantile"):
        hints[name] = "(default: see above)"
    return hints


GROUP_TITLES = {
    "run": "What to train, where to write it, on which device",
    "environment": "Observations and actions",
    "schedule": "Run length, evaluation, checkpoints and figures (in agent steps)",
    "SAC": "Soft actor-critic (the paper's Table 3)",
    "networks": "Encoder and heads (the paper's Table 3)",
    "augmentation": "Data augmentation",
    "SVEA and SODA": "SVEA and SODA (DMControl-GB defaults)",
    "SGQN": "Saliency-guided Q-networks: consistency and self-supervision",
    "speed": "Speed",
}


def parse_args(argv: list[str] | None = None) -> Config:
    """The :class:`Config` of a ``python -m sgqn.train`` command line."""
    from sgqn.cli import parse

    return parse(
        Config,
        argv,
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        titles=GROUP_TITLES,
        hints=_help_hints(),
        exclude=("extra",),
    )


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.train``: parse a Config from the command line and train."""
    from dmcgb.errors import DMCGBError
    from sgqn.replay import InsufficientMemory
    from sgqn.results import ResultsError

    cfg = parse_args(argv)
    try:
        main(cfg)
    except Stopped as stopped:
        raise SystemExit(exit_code(stopped.signum)) from None
    except KeyboardInterrupt:
        print(
            "sgqn.train: aborted without saving; --resume continues from the last checkpoint",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except (
        ConfigError,
        CheckpointError,
        ResultsError,
        DMCGBError,
        InsufficientMemory,
        FileNotFoundError,
    ) as error:
        print(f"sgqn.train: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
