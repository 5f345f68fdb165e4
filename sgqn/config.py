"""Every hyper-parameter of an SG-SAC run, in one dataclass parsed by ``tyro``.

Defaults are the paper's protocol (Bertoin et al., NeurIPS 2022, appendix tables, and the
authors' code, which builds on the DMControl-GB SAC/SVEA code base). Tests pin them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from sgqn.algorithms import ALGORITHMS, ALGOS, Algorithm

__all__ = ["Config", "ALGOS", "PRESETS", "saliency_quantile_for", "apply_preset"]

Algo = Literal[
    "sac", "drq", "rad", "soda", "svea", "svea_soda", "sac_consistency", "sac_ssl", "sgqn"
]

# Table 3 of the paper: quantile rho of the binarized attribution mask, per domain.
_SALIENCY_QUANTILE = {"walker": 0.95, "finger": 0.95, "cartpole": 0.98, "ballincup": 0.98}
_DEFAULT_QUANTILE = 0.95


@dataclass
class Config:
    """Configuration of an SG-SAC training run."""

    # --- run -------------------------------------------------------------------------------
    env: str = "dmcgb/WalkerWalk-train-v0"
    """Training env id (a `dmcgb/...-train-v0` id)."""
    algo: Algo = "sgqn"
    """Which agent (`sgqn.algorithms`): `sac` (no augmentation), `drq` (random shift), `rad` (random crop), `soda`, `svea`, `svea_soda`, the SGQN ablations `sac_consistency` and `sac_ssl` (Table 2), or `sgqn`."""
    seed: int = 1
    """Seed of torch, numpy and the env."""
    preset: Literal["paper", "cpu-demo"] | None = None
    """`paper`: the full protocol; `cpu-demo`: a few thousand steps and a small eval, minutes on a laptop CPU. None picks `paper` on a GPU and `cpu-demo` on a CPU."""
    run_dir: str | None = None
    """Output folder; default runs/<env>-<algo>-s<seed>-<timestamp>."""
    resume: bool = False
    """Continue the run in --run-dir from its last checkpoint."""
    device: str | None = None
    """torch device; default CUDA when present, else CPU."""

    # --- environment -----------------------------------------------------------------------
    frame_stack: int = 3
    """Number of stacked RGB frames (obs has 3*frame_stack channels)."""
    action_repeat: int = 4
    """Control steps per agent step."""
    image_size: int = 84
    """Height and width of the network's input in pixels (what the env renders, except for the random-crop algos: see --crop-margin)."""
    crop_margin: int = 16
    """rad, soda: the env renders image_size + crop_margin pixels and updates random-crop image_size (DMControl-GB: 100 -> 84); acting and evaluation take the centre crop."""

    # --- schedule (agent steps unless said otherwise) ----------------------------------------
    steps: int | None = None
    """Agent steps to train for; default 500_000 (= 2M frames at action repeat 4)."""
    frames: int | None = None
    """Alternative to --steps: environment frames (control steps) to train for; steps = frames // action_repeat."""
    init_steps: int = 1000
    """Seed steps of uniform random actions; at this step, init_steps updates run at once."""
    eval_freq: int = 10_000
    """Evaluate every this many agent steps."""
    eval_episodes: int = 30
    """Episodes per evaluation and per mode."""
    eval_modes: tuple[str, ...] = ("train", "videoeasy", "videohard")
    """Test distributions evaluated during training."""
    save_freq: int = 10_000
    """Checkpoint every this many agent steps (atomic; the last one is kept)."""
    saliency_freq: int = 10_000
    """Write saliency figures every this many agent steps (0 disables)."""
    save_video: bool = False
    """Write one evaluation video per mode (imageio)."""

    # --- SAC -------------------------------------------------------------------------------
    batch_size: int = 128
    discount: float = 0.99
    replay_capacity: int | None = None
    """Transitions kept; default: the whole run (steps)."""
    actor_lr: float = 1e-3
    actor_beta: float = 0.9
    critic_lr: float = 1e-3
    critic_beta: float = 0.9
    init_temperature: float = 0.1
    alpha_lr: float = 1e-4
    alpha_beta: float = 0.5
    actor_update_freq: int = 2
    critic_target_update_freq: int = 2
    critic_tau: float = 0.01
    """Target momentum of the two Q heads."""
    encoder_tau: float = 0.05
    """Target momentum of the shared convolutional encoder and the critic's projection (which the authors' code counts as part of the encoder)."""
    actor_log_std_min: float = -10.0
    actor_log_std_max: float = 2.0

    # --- networks --------------------------------------------------------------------------
    num_conv_layers: int = 11
    num_filters: int = 32
    projection_dim: int = 100
    hidden_dim: int = 1024

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
    soda_beta: float = 0.9

    # --- SGQN ------------------------------------------------------------------------------
    saliency_quantile: float | None = None
    """rho of the binarized mask; default from Table 3 (0.95 walker/finger, 0.98 cartpole/ball_in_cup)."""
    consistency_weight: float = 0.5
    """Weight of L_C in the critic loss."""
    aux_lr: float = 3e-4
    aux_beta: float = 0.9
    aux_update_freq: int = 2
    """Auxiliary update (SGQN's attribution head, SODA) every this many steps."""
    attribution_head: Literal["code", "paper"] = "code"
    """SGQN's attribution head: `code` (conv filters 128, 64, 9 with PyTorch's default init: the authors' code, which produced the published numbers) or `paper` (64, 64, 9 with orthogonal init: the appendix text)."""
    overlay_alpha: float = 0.5
    """s~ = (1 - alpha) * s + alpha * image (SGQN, SODA, SVEA)."""
    overlay_source: str = "auto"
    """Overlay images: `places365-train` (the authors' code; the paper preset's default), `places365-val` (lighter download), a folder of images, `embedded` (procedural textures, no data), or `auto` (train, else val if cached, else embedded with a warning). Each update draws fresh images, random-resized-cropped and flipped."""

    # --- speed -----------------------------------------------------------------------------
    amp: bool = False
    """bfloat16 autocast on CUDA for the convolutions."""
    compile: bool = False
    """torch.compile the update (CUDA)."""

    extra: dict[str, str] = field(default_factory=dict)
    """Free-form notes recorded in the run's config (e.g. the overlay fallback)."""

    @property
    def algorithm(self) -> Algorithm:
        """The row of `sgqn.algorithms.ALGORITHMS` for --algo."""
        if self.algo not in ALGORITHMS:
            raise ValueError(f"--algo must be one of {ALGOS}, actual value: {self.algo!r}")
        return ALGORITHMS[self.algo]

    @property
    def use_consistency(self) -> bool:
        return self.algorithm.consistency

    @property
    def use_ssl(self) -> bool:
        return self.algorithm.attribution_ssl

    @property
    def needs_attribution(self) -> bool:
        return self.algorithm.needs_attribution

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
            (0 < self.soda_tau <= 1, f"--soda-tau must be in (0, 1], actual value: {self.soda_tau}"),
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
        return self.steps if self.steps is not None else 500_000


def saliency_quantile_for(env_id: str) -> float:
    """rho of Table 3 for an env id; 0.95 for domains the table does not list."""
    name = env_id.split("/")[-1].split("-")[0].lower()
    for domain, rho in _SALIENCY_QUANTILE.items():
        if name.startswith(domain):
            return rho
    return _DEFAULT_QUANTILE


# Overrides applied by a preset (only to fields the user left at their default).
PRESETS: dict[str, dict[str, object]] = {
    # The authors' overlay images: Places365 train (fetched on first use, ~24 GB).
    "paper": {"overlay_source": "places365-train"},
    "cpu-demo": {
        # About 1000 updates of the paper's networks at batch 32 (~0.34 s each on a 2-core
        # CPU) plus three small evaluations: under ten minutes end to end.
        "steps": 1000,
        "init_steps": 250,
        "eval_freq": 500,
        "eval_episodes": 2,
        "eval_modes": ("train", "videohard"),
        "save_freq": 500,
        "saliency_freq": 500,
        "batch_size": 32,
    },
}


def apply_preset(cfg: Config, preset: str) -> Config:
    """Return cfg with the preset's values for every field still at its default."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    defaults = Config()
    changes = {
        k: v for k, v in PRESETS[preset].items() if getattr(cfg, k) == getattr(defaults, k)
    }
    return dataclasses.replace(cfg, preset=preset, **changes)
