"""The training loop of one run (DrQ-v2's Workspace): envs, agent, replay, logger and loop state.

:class:`Trainer` steps the env, updates the agent, evaluates, draws saliency figures and saves
checkpoints; ``sgqn.train.command.main`` builds it after the checks of ``sgqn.train.prepare``.
Runs lose nothing: a graceful stop checkpoints between two updates or two steps, and
:meth:`Trainer.restore` continues exactly where the run stopped (mid-episode: the open episode
is replayed from its seed and actions). With ``cfg.overlap`` the env steps on a worker thread
while the agent updates (``sgqn.train.training_env``), with bit-identical results.
"""

from __future__ import annotations

import dataclasses
import random
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmcgb.protocol.envs import make_env
from dmcgb.protocol.episodes import TRAIN, episode_seed, evaluate_run
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.results import (
    Evaluation,
    evaluation_path,
    format_table,
    read_evaluation,
    read_evaluations,
    write_evaluation,
)
from sgqn.agent.factory import build_agent
from sgqn.agent.sac import SAC
from sgqn.config import Config
from sgqn.results.figures import write_saliency_figure
from sgqn.train.checkpoint import CHECKPOINT_NAME, save_checkpoint, set_rng_state
from sgqn.train.stopping import GracefulStop
from sgqn.train.training_env import TrainingEnv

__all__ = ["Trainer", "make_agent", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_agent(cfg: Config, action_shape: tuple[int, ...], device: torch.device | str) -> SAC:
    """The agent of a run, with the overlay image stream when its algorithm blends images.

    The stream's source is recorded in the agent's ``cfg.extra["overlay"]``.

    Raises:
        dmcgb.errors.MissingData: the overlay images are not available.
        FileNotFoundError: an overlay folder without images.
    """
    overlay = None
    if cfg.uses_overlay:
        from sgqn.train.overlay import OverlayStream, resolve_source

        source = resolve_source(cfg.overlay_source)
        overlay = OverlayStream(source, cfg.image_size, device, seed=cfg.seed)
        cfg = dataclasses.replace(cfg, extra={**cfg.extra, "overlay": overlay.description})
    return build_agent(cfg.obs_shape, action_shape, cfg, device, overlay)


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
        from sgqn.train.logger import Logger
        from sgqn.train.replay import ReplayBuffer

        self.cfg, self.device, self.run_dir = cfg, device, run_dir
        self.stop = GracefulStop()  # main() installs it around the loop
        self.total = cfg.total_steps()
        seed_everything(cfg.seed)
        make = partial(make_env, cfg.env, cfg.seed, cfg.frame_stack, cfg.action_repeat)
        self.env = TrainingEnv(partial(make, cfg.render_size), cfg.overlap)  # see training_env
        self.eval_envs: EvalEnvs | None = None
        self.agent, self.logger = None, None
        try:
            self.eval_envs = EvalEnvs.for_task(
                cfg.env, cfg.eval_modes, cfg.seed, cfg.eval_episodes, cfg.frame_stack,
                cfg.action_repeat, cfg.render_size, eval_workers,
            )  # fmt: skip
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
            # The updates never read this step's transition: with cfg.overlap the env steps
            # on a worker thread meanwhile (a stop or an error drops that step).
            with self.env.start(self.action) as pending:
                self.update_to(self.step)
            next_obs, reward, terminated, truncated = pending.result()
            self.replay.add(self.obs, self.action, reward, next_obs, terminated, truncated)
            self.episode.actions.append(self.action)
            self.episode.ret += reward
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
        self.obs = self.env.reset(seed=seed, options={"episode": index})
        self.episode = _Episode(index)

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

    def evaluate(self, episodes: int | None = None, source: str = "train") -> Evaluation:
        """Evaluate every mode at this step and write the results file; a periodic evaluation
        (``source`` train) also goes to eval.csv, the final one (``final``) is kept apart."""
        cfg, step = self.cfg, self.step
        episodes = episodes or cfg.eval_episodes
        bar = self.logger.eval_progress(step, episodes * len(cfg.eval_modes), source)
        try:
            evaluation = evaluate_run(
                self.agent.policy, self.eval_envs, algo=cfg.algo, seed=cfg.seed, step=step,
                action_repeat=cfg.action_repeat, episodes=episodes, source=source,
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
        """The final checkpoint, the final evaluation, then ``results.json``: a run that has it
        is finished. The final evaluation is ``final_eval_episodes`` episodes per mode
        (DMControl-GB's eval.py), written apart from the curve, or with 0 the last periodic one."""
        self.save()
        if self.cfg.final_eval_episodes:
            path = evaluation_path(self.run_dir, self.step, source="final")
            final = read_evaluation(path) if path.is_file() else self.evaluate(
                self.cfg.final_eval_episodes, source="final"
            )  # fmt: skip
        else:
            final = read_evaluation(evaluation_path(self.run_dir, self.step))
        write_evaluation(self.run_dir, final, final=True)
        self.logger.close()
        what = "final evaluation" if final.source == "final" else "last evaluation"
        print(f"\n{what} at step {self.step} ({self.step * self.cfg.action_repeat} frames), "
              f"{self.run_dir}:\n{format_table(final)}", flush=True)  # fmt: skip

    def catch_up(self) -> None:
        """Before the loop: the step-0 evaluation (``eval_at_start``), or on resume the
        evaluation (and figure) a stop interrupted at this step."""
        missing = not evaluation_path(self.run_dir, self.step).is_file()
        if self.step == 0:
            if self.cfg.eval_at_start and missing:
                self.evaluate()
            return
        if self.due(self.cfg.eval_freq) and missing:
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
        self.replay.prune(self.run_dir / "replay")  # only now: the old checkpoint needed them

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
            self.obs = self.env.step(action).obs
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
        self.env.close()  # on its thread, after a step in flight
        if self.eval_envs is not None:
            self.eval_envs.close()
