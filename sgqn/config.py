"""Every hyper-parameter of an SG-SAC run, in one dataclass parsed by ``tyro``.

Defaults are the paper's protocol (Bertoin et al., NeurIPS 2022, appendix tables, and the
authors' code, which builds on the DMControl-GB SAC/SVEA code base). Tests pin them. The
fields a preset may set (run length, evaluation, checkpoints, batch size) default to None and
are filled by ``sgqn.presets.resolve``, so a value the user gives is never replaced; :func:`check`
(``sgqn.validation``) then refuses any value that cannot work. The ``# ---`` comments split the fields into the groups
``--help`` shows (``sgqn.train.flags``). The config is the vocabulary every part shares: the
agent reads its hyper-parameters, training its schedule, the report compares runs by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sgqn.agent.algorithms import ALGORITHMS, ALGOS, Algorithm

__all__ = [
    "Config",
    "ConfigError",
    "ALGOS",
    "PAPER_STEPS",
    "TASK_DEFAULTS",
    "check",
    "saliency_quantile_for",
    "task_kind",
]

Algo = Literal[
    "sac", "drq", "rad", "soda", "svea", "svea_soda", "sac_consistency", "sac_ssl", "sgqn"
]

# Table 3 of the paper: quantile rho of the binarized attribution mask, per domain.
_SALIENCY_QUANTILE = {"walker": 0.95, "finger": 0.95, "cartpole": 0.98, "ballincup": 0.98}
_DEFAULT_QUANTILE = 0.95
PAPER_STEPS = 500_000  # agent steps of a DMC run in the paper (2M frames at action repeat 4)

# The paper's values that differ between kinds of task (Appendix D and the authors' robot_env
# code for the robot tasks): what a field left unset means, whatever the preset.
TASK_DEFAULTS: dict[str, dict[str, object]] = {
    "frame_stack": {"dmc": 3, "robot": 1, "other": 3},
    "action_repeat": {"dmc": 4, "robot": 1, "other": 4},
    "consistency_weight": {"dmc": 0.5, "robot": 1.0, "other": 0.5},
    "svea_augmentation": {"dmc": "overlay", "robot": "conv", "other": "overlay"},
    "aux_augmentation": {"dmc": "overlay", "robot": "conv", "other": "overlay"},
}


def task_kind(env_id: str) -> str:
    """``dmc``, ``robot`` (the dmcgb robot tasks) or ``other`` (a non-dmcgb env)."""
    if not env_id.startswith("dmcgb/"):
        return "other"
    return "robot" if env_id.split("/")[-1].startswith("Robot") else "dmc"


@dataclass
class Config:
    """Configuration of an SG-SAC training run.

    Fields left at None that a preset sets (``PRESET_FIELDS``: run length, evaluation,
    checkpoints, batch size, overlay images) take the preset's value in :func:`resolve`; any value
    given explicitly, on the command line or in code, is kept as given.
    """

    # --- run -------------------------------------------------------------------------------
    env: str = "dmcgb/WalkerWalk-train-v0"
    """Training env: a dmcgb task (`WalkerWalk`, which trains on `dmcgb/WalkerWalk-train-v0`), a dmcgb id, or any env with (H, W, 3) uint8 frames."""
    algo: Algo = "sgqn"
    """Which agent (`sgqn.agent.algorithms`): `sac` (no augmentation), `drq` (random shift), `rad` (random crop), `soda`, `svea`, `svea_soda`, the SGQN ablations `sac_consistency` and `sac_ssl` (Table 2), or `sgqn`."""
    seed: int = 1
    """Seed of torch, numpy, the training episodes and the evaluation episodes, in [0, 2**32)."""
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
    dry_run: bool = False
    """Print the resolved config (what config.json would record) as JSON and exit: nothing is downloaded, created or trained."""

    # --- environment -----------------------------------------------------------------------
    frame_stack: int | None = None
    """Number of stacked RGB frames (obs has 3*frame_stack channels); default the paper's: 3 on DMC tasks, 1 on robot tasks (Appendix D)."""
    action_repeat: int | None = None
    """Control steps per agent step; default the paper's: 4 on DMC tasks (Table 1; Table 5 also reports Cartpole at 8 and Finger spin at 2), 1 on robot tasks."""
    image_size: int = 84
    """Height and width of the network's input in pixels (what the env renders, except for the random-crop algos: see --crop-margin)."""
    crop_margin: int = 16
    """rad, soda: the env renders image_size + crop_margin pixels and updates random-crop image_size (DMControl-GB: 100 -> 84); acting and evaluation take the centre crop."""

    # --- schedule --------------------------------------------------------------------------
    steps: int | None = None
    """Agent steps to train for; paper 500_000 on DMC tasks (= 2M frames at action repeat 4), 250_000 on robot tasks."""
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
    eval_at_start: bool | None = None
    """Also evaluate the untrained agent at step 0 (the first point of the curves, as the authors' training loop does); paper True."""
    final_eval_episodes: int | None = None
    """Episodes per mode of the final evaluation, after the last step (0: none; the last periodic evaluation is then the final one); paper 100 on DMC tasks, as DMControl-GB's eval.py, 0 on robot tasks."""
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
    svea_augmentation: Literal["overlay", "conv"] | None = None
    """SVEA's augmentation: `overlay` (natural images) or `conv` (random convolution); default the SGQN authors': overlay on DMC tasks, conv on robot tasks."""
    soda_batch_size: int = 256
    """SODA: transitions in its own replay batch."""
    soda_tau: float = 0.005
    """SODA: momentum of its target encoder and projector."""
    soda_lr: float = 3e-4
    """Adam learning rate of SODA's own optimiser: 3e-4, as the SODA scripts of DMControl-GB and of the SGQN authors run it (DMControl-GB's `--aux_lr` default, 1e-3, is overridden there)."""
    soda_beta: float = 0.9
    """Adam beta1 of SODA's own optimiser."""

    # --- SGQN ------------------------------------------------------------------------------
    saliency_quantile: float | None = None
    """rho of the binarized mask; default from Table 3 (0.95 walker/finger, 0.98 cartpole/ball_in_cup)."""
    consistency_weight: float | None = None
    """Weight of L_C in the critic loss; default the SGQN authors': 0.5 on DMC tasks, 1 on robot tasks."""
    aux_lr: float = 3e-4
    """Adam learning rate of the attribution head."""
    aux_beta: float = 0.9
    """Adam beta1 of the attribution head."""
    aux_update_freq: int = 2
    """Auxiliary update (SGQN's attribution head, SODA) every this many steps."""
    attribution_head: Literal["code", "paper"] = "code"
    """SGQN's attribution head: `code` (conv filters 128, 64, 9 with PyTorch's default init: the authors' code, which produced the published numbers) or `paper` (64, 64, 9 with orthogonal init: the appendix text)."""
    aux_augmentation: Literal["overlay", "conv"] | None = None
    """What SODA's loss and SGQN's attribution head see of an observation: `overlay` (natural images) or `conv` (random convolution); default the SGQN authors': overlay on DMC tasks, conv on robot tasks."""
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

    def task_value(self, name: str) -> object:
        """Field ``name``, or where it is unset the paper's value for this task (``TASK_DEFAULTS``)."""
        value = getattr(self, name)
        return TASK_DEFAULTS[name][task_kind(self.env)] if value is None else value

    @property
    def uses_overlay(self) -> bool:
        """Whether updates blend natural images into observations (needs an overlay source)."""
        algorithm = self.algorithm
        svea_overlay = algorithm.svea and self.task_value("svea_augmentation") == "overlay"
        aux = algorithm.soda or algorithm.attribution_ssl
        return svea_overlay or (aux and self.task_value("aux_augmentation") == "overlay")

    @property
    def render_size(self) -> int:
        """Height and width the env renders: image_size, plus crop_margin for random-crop algos."""
        crop = self.algorithm.augmentation == "crop"
        return self.image_size + (self.crop_margin if crop else 0)

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        """(3 * frame_stack, render_size, render_size): what the agent is given."""
        frames = int(self.task_value("frame_stack"))  # type: ignore[call-overload]
        return (3 * frames, self.render_size, self.render_size)

    @property
    def domain(self) -> str:
        """Lower-case domain of the env id, e.g. 'walker' for dmcgb/WalkerWalk-train-v0."""
        name = self.env.split("/")[-1].split("-")[0].lower()
        for domain in ("ballincup", "cartpole", "walker", "finger", "cheetah", "reacher"):
            if name.startswith(domain):
                return domain
        return name

    def resolved_quantile(self) -> float:
        if self.saliency_quantile is not None:
            return self.saliency_quantile
        return saliency_quantile_for(self.env)

    def total_steps(self) -> int:
        """Agent steps of the run, from --steps or --frames."""
        if self.steps is not None and self.frames is not None:
            raise ValueError("give either --steps or --frames, not both")
        if self.frames is not None:
            return self.frames // int(self.task_value("action_repeat"))  # type: ignore[call-overload]
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
    """Raise ConfigError naming the flag of the first value of a resolved config that cannot work.

    The checks themselves are :func:`sgqn.validation.check_resolved`, shared by every command.
    """
    from sgqn.validation import check_resolved

    check_resolved(cfg)
