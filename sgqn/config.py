"""Every hyper-parameter of an SG-SAC run, in one dataclass parsed by ``tyro``.

Defaults are the paper's protocol (Bertoin et al., NeurIPS 2022, appendix tables, and the
authors' code, which builds on the DMControl-GB SAC/SVEA code base). Tests pin them. The
fields a preset may set (run length, evaluation, checkpoints, batch size) default to None and
are filled by ``sgqn.presets.resolve``, so a value the user gives is never replaced; :func:`check`
then refuses any value that cannot work. The ``# ---`` comments split the fields into the groups
``--help`` shows (``sgqn.train.flags``). The config is the vocabulary every part shares: the
agent reads its hyper-parameters, training its schedule, the report compares runs by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sgqn.agent.algorithms import ALGORITHMS, ALGOS, Algorithm

__all__ = ["Config", "ConfigError", "ALGOS", "PAPER_STEPS", "check", "saliency_quantile_for"]

Algo = Literal[
    "sac", "drq", "rad", "soda", "svea", "svea_soda", "sac_consistency", "sac_ssl", "sgqn"
]

# Table 3 of the paper: quantile rho of the binarized attribution mask, per domain.
_SALIENCY_QUANTILE = {"walker": 0.95, "finger": 0.95, "cartpole": 0.98, "ballincup": 0.98}
_DEFAULT_QUANTILE = 0.95
PAPER_STEPS = 500_000  # agent steps of a run in the paper (2M frames at action repeat 4)


@dataclass
class Config:
    """Configuration of an SG-SAC training run.

    Fields left at None that a preset sets (``PRESET_FIELDS``: run length, evaluation,
    checkpoints, batch size, overlay images) take the preset's value in :func:`resolve`; any value
    given explicitly, on the command line or in code, is kept as given.
    """

    # --- run -------------------------------------------------------------------------------
    env: str = "dmcgb/WalkerWalk-train-v0"
    """Training env id (a `dmcgb/...-train-v0` id, or any env with (H, W, 3) uint8 frames)."""
    algo: Algo = "sgqn"
    """Which agent (`sgqn.agent.algorithms`): `sac` (no augmentation), `drq` (random shift), `rad` (random crop), `soda`, `svea`, `svea_soda`, the SGQN ablations `sac_consistency` and `sac_ssl` (Table 2), or `sgqn`."""
    seed: int = 1
    """Seed of torch, numpy, the training episodes and the evaluation episodes."""
    preset: Literal["paper", "cpu-demo"] | None = None
    """Values for the fields you do not set: `paper` (the paper's protocol) or `cpu-demo` (a few minutes on a CPU, not the paper's numbers); default `paper` on a GPU, `cpu-demo` on a CPU. Explicit flags always win."""
    run_dir: str | None = None
    """Output folder; default runs/<task>-<algo>-s<seed>-<timestamp>. Must be new or empty (or, with --resume, hold the run)."""
    resume: bool = False
    """Continue the run in --run-dir from its last checkpoint (exactly where it stopped)."""
    device: str | None = None
    """torch device; default CUDA when present, else CPU."""
    threads: int | None = None
    """torch threads on a CPU; default the cores minus one (left to rendering), at least 1: on a shared 2-core machine 2 threads ran the training loop 2.6-5x slower than 1 (bench/sgqn_threads.py)."""

    # --- environment -----------------------------------------------------------------------
    frame_stack: int = 3
    """Number of stacked RGB frames (obs has 3*frame_stack channels)."""
    action_repeat: int = 4
    """Control steps per agent step."""
    image_size: int = 84
    """Height and width of the network's input in pixels (what the env renders, except for the random-crop algos: see --crop-margin)."""
    crop_margin: int = 16
    """rad, soda: the env renders image_size + crop_margin pixels and updates random-crop image_size (DMControl-GB: 100 -> 84); acting and evaluation take the centre crop."""

    # --- schedule --------------------------------------------------------------------------
    steps: int | None = None
    """Agent steps to train for; paper 500_000 (= 2M frames at action repeat 4)."""
    frames: int | None = None
    """Alternative to --steps: environment frames (control steps) to train for; steps = frames // action_repeat."""
    init_steps: int | None = None
    """Seed steps of uniform random actions; at this step, init_steps updates run at once; paper 1000."""
    eval_freq: int | None = None
    """Evaluate every this many agent steps; paper 10_000."""
    eval_episodes: int | None = None
    """Episodes per evaluation and per mode; paper 30."""
    eval_modes: tuple[str, ...] | None = None
    """Test distributions evaluated during training; paper `train videoeasy videohard` (robot tasks: `train test1 ... test5`)."""
    save_freq: int | None = None
    """Checkpoint every this many agent steps (atomic; the last one is kept); paper 10_000."""
    saliency_freq: int | None = None
    """Write saliency figures every this many agent steps (0 disables); paper 10_000."""
    save_video: bool = False
    """Write the first evaluation episode of each mode as an mp4 (imageio)."""

    # --- SAC -------------------------------------------------------------------------------
    batch_size: int | None = None
    """Minibatch size of an update; paper 128."""
    discount: float = 0.99
    """Discount factor gamma."""
    replay_capacity: int | None = None
    """Transitions kept; default: the whole run (steps)."""
    actor_lr: float = 1e-3
    """Adam learning rate of the actor."""
    actor_beta: float = 0.9
    """Adam beta1 of the actor."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic (and the encoder)."""
    critic_beta: float = 0.9
    """Adam beta1 of the critic."""
    init_temperature: float = 0.1
    """Initial entropy temperature alpha."""
    alpha_lr: float = 1e-4
    """Adam learning rate of log alpha."""
    alpha_beta: float = 0.5
    """Adam beta1 of log alpha."""
    actor_update_freq: int = 2
    """Update the actor and alpha every this many agent steps."""
    critic_target_update_freq: int = 2
    """Move the target critic every this many agent steps."""
    critic_tau: float = 0.01
    """Target momentum of the two Q heads."""
    encoder_tau: float = 0.05
    """Target momentum of the shared convolutional encoder and the critic's projection (which the authors' code counts as part of the encoder)."""
    actor_log_std_min: float = -10.0
    """Lower bound of the policy's log standard deviation."""
    actor_log_std_max: float = 2.0
    """Upper bound of the policy's log standard deviation."""

    # --- networks --------------------------------------------------------------------------
    num_conv_layers: int = 11
    """Convolutional layers of the shared encoder."""
    num_filters: int = 32
    """Filters per convolutional layer."""
    projection_dim: int = 100
    """Width of the projection (linear + LayerNorm) after the encoder."""
    hidden_dim: int = 1024
    """Hidden units of the actor and critic heads."""

    # --- augmentation ----------------------------------------------------------------------
    shift_pad: int = 4
    """Random shift: replicate-pad by this many pixels, then random crop back."""

    # --- SVEA and SODA ----------------------------------------------------------------------
    svea_alpha: float = 0.5
    """SVEA: weight of the critic loss on the clean obs."""
    svea_beta: float = 0.5
    """SVEA: weight of the critic loss on the augmented obs (same targets, from clean next_obs)."""
    svea_augmentation: Literal["overlay", "conv"] = "overlay"
    """SVEA's augmentation: `overlay` (natural images, the SGQN paper's protocol) or `conv` (random convolution, the DMControl-GB default)."""
    soda_batch_size: int = 256
    """SODA: transitions in its own replay batch."""
    soda_tau: float = 0.005
    """SODA: momentum of its target encoder and projector."""
    soda_lr: float = 1e-3
    """Adam learning rate of SODA's own optimiser (DMControl-GB's default)."""
    soda_beta: float = 0.9
    """Adam beta1 of SODA's own optimiser."""

    # --- SGQN ------------------------------------------------------------------------------
    saliency_quantile: float | None = None
    """rho of the binarized mask; default from Table 3 (0.95 walker/finger, 0.98 cartpole/ball_in_cup)."""
    consistency_weight: float = 0.5
    """Weight of L_C in the critic loss."""
    aux_lr: float = 3e-4
    """Adam learning rate of the attribution head."""
    aux_beta: float = 0.9
    """Adam beta1 of the attribution head."""
    aux_update_freq: int = 2
    """Auxiliary update (SGQN's attribution head, SODA) every this many steps."""
    attribution_head: Literal["code", "paper"] = "code"
    """SGQN's attribution head: `code` (conv filters 128, 64, 9 with PyTorch's default init: the authors' code, which produced the published numbers) or `paper` (64, 64, 9 with orthogonal init: the appendix text)."""
    overlay_alpha: float = 0.5
    """s~ = (1 - alpha) * s + alpha * image (SGQN, SODA, SVEA)."""
    overlay_source: str | None = None
    """Overlay images: `places365-train` (the authors' code; the paper preset's default), `places365-val` (lighter download), a folder of images, `embedded` (procedural textures, no data), or `auto` (train, else val if cached, else embedded with a warning). Each update draws fresh images, random-resized-cropped and flipped; paper `places365-train`, cpu-demo `auto`."""

    # --- speed -----------------------------------------------------------------------------
    amp: bool = False
    """bfloat16 autocast on CUDA for the convolutions."""
    overlap: bool = True
    """Step the env on a second thread while the agent updates (MuJoCo, rendering and torch release the GIL); the results are bit-identical either way, as the update never sees the transition being collected. `--no-overlap` steps it after the updates. Needs an env that draws no random numbers from numpy's or torch's global generators (dmcgb envs use their own)."""
    compile: bool = False
    """torch.compile the networks (inductor; guided backprop included). The first updates, acting and evaluation wait for compilation (50 to 90 s in all on this project's 2-core CPU; inductor caches kernels on disk); values agree with eager to float32 rounding, not bit for bit. On a CPU it does not pay (README, Speed)."""

    extra: dict[str, str] = field(default_factory=dict)
    """Free-form notes recorded in the run's config (e.g. the overlay fallback); not a flag."""

    @property
    def algorithm(self) -> Algorithm:
        """The row of `sgqn.agent.algorithms.ALGORITHMS` for --algo."""
        if self.algo not in ALGORITHMS:
            raise ValueError(f"--algo must be one of {ALGOS}, actual value: {self.algo!r}")
        return ALGORITHMS[self.algo]

    @property
    def uses_overlay(self) -> bool:
        """Whether updates blend natural images into observations (needs an overlay source)."""
        algorithm = self.algorithm
        svea_overlay = algorithm.svea and self.svea_augmentation == "overlay"
        return svea_overlay or algorithm.soda or algorithm.attribution_ssl

    @property
    def render_size(self) -> int:
        """Height and width the env renders: image_size, plus crop_margin for random-crop algos."""
        crop = self.algorithm.augmentation == "crop"
        return self.image_size + (self.crop_margin if crop else 0)

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        """(3 * frame_stack, render_size, render_size): what the agent is given."""
        return (3 * self.frame_stack, self.render_size, self.render_size)

    @property
    def domain(self) -> str:
        """Lower-case domain of the env id, e.g. 'walker' for dmcgb/WalkerWalk-train-v0."""
        name = self.env.split("/")[-1].split("-")[0].lower()
        for domain in ("ballincup", "cartpole", "walker", "finger", "cheetah", "reacher"):
            if name.startswith(domain):
                return domain
        return name

    def algo_checks(self) -> list[tuple[bool, str]]:
        """(ok, message) for each algorithm field, checked before any work."""
        return [
            (self.crop_margin > 0, f"--crop-margin must be > 0, actual value: {self.crop_margin}"),
            (
                self.svea_alpha >= 0 and self.svea_beta >= 0,
                f"--svea-alpha and --svea-beta must be >= 0, actual values: {self.svea_alpha}, "
                f"{self.svea_beta}",
            ),
            (
                self.soda_batch_size > 0,
                f"--soda-batch-size must be > 0, actual value: {self.soda_batch_size}",
            ),
            (
                0 < self.soda_tau <= 1,
                f"--soda-tau must be in (0, 1], actual value: {self.soda_tau}",
            ),
            (
                0 <= self.overlay_alpha <= 1,
                f"--overlay-alpha must be in [0, 1], actual value: {self.overlay_alpha}",
            ),
            (
                self.aux_update_freq > 0,
                f"--aux-update-freq must be > 0, actual value: {self.aux_update_freq}",
            ),
        ]

    def resolved_quantile(self) -> float:
        if self.saliency_quantile is not None:
            return self.saliency_quantile
        return saliency_quantile_for(self.env)

    def total_steps(self) -> int:
        """Agent steps of the run, from --steps or --frames."""
        if self.steps is not None and self.frames is not None:
            raise ValueError("give either --steps or --frames, not both")
        if self.frames is not None:
            return self.frames // self.action_repeat
        return self.steps if self.steps is not None else PAPER_STEPS


def saliency_quantile_for(env_id: str) -> float:
    """rho of Table 3 for an env id; 0.95 for domains the table does not list."""
    name = env_id.split("/")[-1].split("-")[0].lower()
    for domain, rho in _SALIENCY_QUANTILE.items():
        if name.startswith(domain):
            return rho
    return _DEFAULT_QUANTILE


class ConfigError(ValueError):
    """A flag value that cannot work; the message names the flag and the fix."""


def check(cfg: Config) -> None:
    """Raise ConfigError naming the flag of the first value of a resolved config that cannot work."""
    total = cfg.total_steps()
    checks = [
        (cfg.algo in ALGOS, f"--algo must be one of {ALGOS}, actual value: {cfg.algo!r}"),
        (total > 0, f"--steps/--frames must give at least 1 agent step, actual value: {total}"),
        (
            0 <= cfg.init_steps < total,  # type: ignore[operator]
            f"--init-steps must be in [0, {total}), actual value: {cfg.init_steps}",
        ),
        (cfg.eval_freq > 0, f"--eval-freq must be > 0, actual value: {cfg.eval_freq}"),  # type: ignore[operator]
        (
            cfg.eval_episodes > 0,  # type: ignore[operator]
            f"--eval-episodes must be > 0, actual value: {cfg.eval_episodes}",
        ),
        (cfg.save_freq > 0, f"--save-freq must be > 0, actual value: {cfg.save_freq}"),  # type: ignore[operator]
        (
            cfg.saliency_freq >= 0,  # type: ignore[operator]
            f"--saliency-freq must be >= 0, actual value: {cfg.saliency_freq}",
        ),
        (cfg.batch_size > 0, f"--batch-size must be > 0, actual value: {cfg.batch_size}"),  # type: ignore[operator]
        (len(cfg.eval_modes) > 0, "--eval-modes must name at least one mode, e.g. train"),  # type: ignore[arg-type]
        (
            cfg.replay_capacity is None or cfg.replay_capacity > 0,
            f"--replay-capacity must be > 0, actual value: {cfg.replay_capacity}",
        ),
        (
            cfg.threads is None or cfg.threads > 0,
            f"--threads must be > 0, actual value: {cfg.threads}",
        ),
        (cfg.frame_stack >= 1, f"--frame-stack must be >= 1, actual value: {cfg.frame_stack}"),
        (
            cfg.action_repeat >= 1,
            f"--action-repeat must be >= 1, actual value: {cfg.action_repeat}",
        ),
        *cfg.algo_checks(),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
