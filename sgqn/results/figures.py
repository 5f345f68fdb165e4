"""Saliency figures: observation | guided-backprop attribution | binarized mask | predicted mask.

One agent (`save_saliency_figure`): one row per chosen frame (train frames first, then
video_hard frames), one column per map. Several agents (`save_comparison_figure`, the SGQN
paper's Figure 5; ``python -m sgqn.compare_saliency``): one row per agent on the same frames.
Maps show the newest frame of each stacked observation as the network saw it (the centre crop
for rad and soda). Rendering uses matplotlib's Agg backend, so it works headless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmcgb.protocol.envs import to_chw
from dmcgb.protocol.episodes import FIGURE, episode_seed
from dmcgb.protocol.mode_envs import EvalEnvs
from sgqn.files import atomic_path

__all__ = [
    "SaliencyRow",
    "saliency_rows",
    "save_saliency_figure",
    "save_comparison_figure",
    "write_saliency_figure",
    "collect_saliency_observations",
    "COLUMNS",
]

COLUMNS = ("observation", "attribution M(Q,s,a)", "mask M_rho", "predicted M_theta")
_FRAME = 3  # channels per stacked frame
_SALIENCY_STEPS = (10, 60)  # agent steps into an episode at which figure frames are taken
_SALIENCY_MODES = ("train", "videohard")


class SaliencyRow:
    """The four maps of one observation's newest frame, as (H, W[, 3]) arrays in [0, 1]."""

    def __init__(self, label: str, frame, attribution, mask, predicted) -> None:
        self.label = label
        self.frame = frame  # (H, W, 3) uint8
        self.attribution = attribution  # (H, W) float, scaled to [0, 1]
        self.mask = mask  # (H, W) {0, 1}
        self.predicted = predicted  # (H, W) float in [0, 1], or None without a head


def _newest(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> the newest frame's (3, H, W)."""
    return x[-_FRAME:]


@torch.no_grad()
def _to_unit(attribution: torch.Tensor) -> np.ndarray:
    """Max |attribution| over the frame's channels, scaled by its 99th percentile."""
    magnitude = attribution.abs().amax(dim=0)
    scale = torch.quantile(magnitude.flatten().float(), 0.99).clamp_min(1e-12)
    return (magnitude / scale).clamp(0, 1).float().cpu().numpy()


def saliency_rows(agent: Any, observations: dict[str, list[np.ndarray]]) -> list[SaliencyRow]:
    """Compute the maps of chosen observations with the agent.

    Args:
        agent: an agent (``sgqn.agent.sac.SAC``) (``act``, ``attribution_maps``, ``explain``).
        observations: per mode, (3k, H, W) uint8 observations.

    Returns:
        One row per observation, in the order given.
    """
    rows = []
    for mode, frames in observations.items():
        if not frames:
            continue
        obs = np.stack(frames)  # (N, 3k, H, W) uint8
        action = torch.as_tensor(agent.act(obs, sample=False))  # (N, A) policy means
        maps = agent.attribution_maps(obs, action)
        for i in range(len(frames)):
            predicted = None
            if maps.predicted is not None:  # per-frame probability, same on its 3 channels
                predicted = _newest(maps.predicted[i]).float().mean(0).cpu().numpy()
            rows.append(
                SaliencyRow(
                    label=f"{mode} #{i}",
                    frame=_newest(maps.observation[i])
                    .permute(1, 2, 0)
                    .to(torch.uint8)
                    .cpu()
                    .numpy(),
                    attribution=_to_unit(_newest(maps.attribution[i].detach())),
                    mask=_newest(maps.mask[i])[0].float().cpu().numpy(),
                    predicted=predicted,
                )
            )
    return rows


def _pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _panels(row: SaliencyRow) -> tuple[tuple[Any, dict[str, Any]], ...]:
    """A row's images with their colour maps: frame, attribution, mask, predicted mask."""
    unit = {"vmin": 0, "vmax": 1}
    return (
        (row.frame, {}),
        (row.attribution, {"cmap": "inferno", **unit}),
        (row.mask, {"cmap": "gray", **unit}),
        (row.predicted, {"cmap": "viridis", **unit}),
    )


def _save(fig, path: Path, title: str) -> Path:
    """Title, lay out, write the PNG atomically and close the figure."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _pyplot().close(fig)
    return path


def save_saliency_figure(rows: list[SaliencyRow], path: str | Path, title: str = "") -> Path:
    """Draw the rows as a PNG (written atomically) and return its path."""
    plt = _pyplot()
    if not rows:
        raise ValueError("no observations to draw")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(
        len(rows), len(COLUMNS), figsize=(2.2 * len(COLUMNS), 2.2 * len(rows)), squeeze=False
    )
    for r, row in enumerate(rows):
        for c, (image, style) in enumerate(_panels(row)):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if image is None:
                ax.text(0.5, 0.5, "no head\n(algo without SSL)", ha="center", va="center")
            else:
                ax.imshow(image, interpolation="nearest", **style)
            if r == 0:
                ax.set_title(COLUMNS[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row.label, fontsize=9)
    return _save(fig, path, title)


def save_comparison_figure(
    runs: dict[str, list[SaliencyRow]], path: str | Path, title: str = ""
) -> Path:
    """Several agents' maps on the same frames (the SGQN paper's Figure 5) as a PNG.

    One row per agent; for each frame three panels: what the agent saw, its attribution and
    its binarized mask.

    Args:
        runs: per agent label, its rows (one per frame, the same frames for every agent).
        path: the PNG to write (atomically).
        title: the figure's title.
    """
    plt = _pyplot()
    frames = {len(rows) for rows in runs.values()}
    if not runs or frames == {0} or len(frames) != 1:
        raise ValueError(
            f"expected the same number (> 0) of frames for every agent, actual: "
            f"{ {label: len(rows) for label, rows in runs.items()} }"
        )
    (count,) = frames
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ("observation", "attribution", "mask M_rho")
    fig, axes = plt.subplots(
        len(runs), 3 * count, figsize=(2.0 * 3 * count, 2.1 * len(runs)), squeeze=False
    )
    for r, (label, rows) in enumerate(runs.items()):
        for f, row in enumerate(rows):
            for c, (image, style) in enumerate(_panels(row)[:3]):  # no predicted mask
                ax = axes[r, 3 * f + c]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.imshow(image, interpolation="nearest", **style)
                if r == 0:
                    ax.set_title(f"{row.label}: {columns[c]}" if c == 0 else columns[c], fontsize=8)
            axes[r, 0].set_ylabel(label, fontsize=9)
    return _save(fig, path, title)


def collect_saliency_observations(
    agent: Any, envs: dict[str, Any], seed: int, at: tuple[int, ...] = _SALIENCY_STEPS
) -> dict[str, list[np.ndarray]]:
    """(3k, H, W) observations taken ``at`` these agent steps of one deterministic episode per
    mode (the figure's own seed stream, episode 0 of the benchmark's sequence)."""
    observations: dict[str, list[np.ndarray]] = {}
    for mode, env in envs.items():
        obs, _ = env.reset(seed=episode_seed(seed, FIGURE, mode), options={"episode": 0})
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
    modes = [m for m in _SALIENCY_MODES if m in envs.env_ids] or envs.modes[:1]
    chosen = {m: envs.single(m) for m in modes}
    rows = saliency_rows(agent, collect_saliency_observations(agent, chosen, seed))
    return save_saliency_figure(rows, path, title=path.stem)
