"""What one run of a sweep asks Ray for, with defaults that follow the machine or cluster.

A run is one training process: one core steps (and renders) its env and runs torch, spare cores
run evaluation episodes in parallel; on a GPU node the replay buffer and networks live on the
GPU, which several runs share (an SG-SAC run leaves most of a large GPU idle while it steps its
env); on a CPU node the replay buffer lives in host memory.

Defaults (each overridable by a flag):
    GPUs per run    1/k of a GPU, k = the runs whose replay buffers and networks fit in one
                    GPU's memory, at most the node's cores per GPU; 0 on a cluster without GPUs
    CPUs per run    the node's cores shared by the runs on it (GPU nodes), or the cluster's cores
                    shared by the grid's cells (CPU only); at least 1
    memory per run  host memory: the process, envs and decoded videos, plus the replay buffer
                    when it lives on the CPU

The per-run GPU and host overheads below are assumptions (no GPU was available to measure
them); the replay buffer's size is exact (``ReplayBuffer.bytes_needed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sgqn.config import Config

__all__ = ["NodeShape", "RunResources", "plan_resources", "capacity", "replay_bytes", "GiB"]

GiB = 2**30
# Assumed, not measured: CUDA context, networks, Adam state and activations of one run at the
# paper's batch size 128 (the replay buffer comes on top).
_GPU_OVERHEAD = 3 * GiB
# Host memory of one training process beside its replay buffer: torch, MuJoCo and the decoded
# benchmark videos (the video cache holds at most 2 GiB; video_hard at 84 px is 1.1 GB). A tiny
# cpu-demo run peaked at 0.9 GB resident here.
_HOST_OVERHEAD = 3 * GiB
_EVAL_PROCESS = 1 * GiB  # each evaluation worker process (its own envs and videos)
_GPU_MEMORY_SHARE = 0.9  # of a GPU's memory that runs may plan to use
_ACTION_DIM = 64  # at least any task's; actions are 4 bytes each, negligible beside the frames


@dataclass(frozen=True)
class NodeShape:
    """The resources of one Ray node."""

    cpus: float
    gpus: float = 0.0
    memory: int = 0  # bytes Ray may schedule on the node
    gpu_memory: int | None = None  # bytes per GPU, None when unknown


@dataclass(frozen=True)
class RunResources:
    """Ray resources of one run, and how the run uses them.

    Attributes:
        cpus: cores (Ray ``num_cpus``): torch threads, and evaluation workers beyond the first.
        gpus: GPU fraction (Ray ``num_gpus``); > 0 trains on CUDA.
        memory: host bytes (Ray ``memory``), reserved for scheduling.
    """

    cpus: int
    gpus: float
    memory: int

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise ValueError(f"CPUs per run must be >= 1, actual value: {self.cpus}")
        if self.gpus < 0 or (self.gpus > 1 and not float(self.gpus).is_integer()):
            raise ValueError(f"GPUs per run must be in [0, 1] or whole, actual: {self.gpus}")
        if self.memory <= 0:
            raise ValueError(f"memory per run must be > 0, actual value: {self.memory}")

    @property
    def device(self) -> str:
        return "cuda" if self.gpus > 0 else "cpu"

    def eval_workers(self, num_modes: int) -> int:
        """Evaluation processes per mode: the cores beyond the training loop's, shared."""
        return max(1, (self.cpus - 1) // max(1, num_modes))

    def ray_options(self) -> dict[str, float]:
        return {"num_cpus": self.cpus, "num_gpus": self.gpus, "memory": self.memory}

    def describe(self) -> str:
        gpu = f"{self.gpus:g} GPU" if self.gpus else "no GPU"
        return f"{self.cpus} CPU, {gpu}, {self.memory / GiB:.1f} GiB memory per run"


def replay_bytes(cfg: Config) -> int:
    """Bytes of a run's replay buffer (``cfg`` with its preset applied)."""
    from sgqn.train.replay import ReplayBuffer

    capacity = cfg.replay_capacity or cfg.total_steps()
    frame = (3, cfg.render_size, cfg.render_size)  # as the Trainer stores them (rad, soda: 100)
    return ReplayBuffer.bytes_needed(capacity, frame, _ACTION_DIM, cfg.frame_stack)


def _runs_per_gpu(node: NodeShape, gpu_bytes: int) -> int:
    by_memory = 1
    if node.gpu_memory:
        by_memory = max(1, int(_GPU_MEMORY_SHARE * node.gpu_memory // gpu_bytes))
    by_cores = max(1, int(node.cpus // max(node.gpus, 1)))
    return min(by_memory, by_cores)


def plan_resources(
    nodes: list[NodeShape],
    cfg: Config,
    cells: int,
    cpus: int | None = None,
    gpus: float | None = None,
    memory: int | None = None,
) -> RunResources:
    """Per-run resources: the given values, and defaults that follow the nodes for the rest.

    Args:
        nodes: the cluster's nodes (one for a local instance).
        cfg: a cell's config, its preset applied (replay size, evaluation modes).
        cells: cells in the grid (on CPUs, a small grid gets more cores per run).
        cpus, gpus, memory: explicit per-run values (memory in bytes), or None for the default.
    """
    gpu_nodes = [n for n in nodes if n.gpus > 0]
    replay = replay_bytes(cfg)
    if gpus is None:
        if gpu_nodes:
            # The GPU node that fits the fewest runs sets the fraction: every node can take it.
            k = min(_runs_per_gpu(n, replay + _GPU_OVERHEAD) for n in gpu_nodes)
            gpus = math.floor(1e4 / k) / 1e4  # Ray counts GPU fractions to 1e-4
        else:
            gpus = 0.0
    if cpus is None:
        if gpus > 0:
            cpus = min(max(1, int(n.cpus // (n.gpus / gpus))) for n in gpu_nodes)
        else:
            total = sum(n.cpus for n in nodes)
            cpus = max(1, min(int(max(n.cpus for n in nodes)), int(total // max(1, cells))))
    if memory is None:
        workers = RunResources(int(cpus), gpus, 1).eval_workers(len(cfg.eval_modes))
        eval_processes = len(cfg.eval_modes) * workers if workers > 1 else 0  # 1: in-process
        memory = _HOST_OVERHEAD + eval_processes * _EVAL_PROCESS
        if gpus == 0:
            memory += replay
    return RunResources(cpus=int(cpus), gpus=float(gpus), memory=int(memory))


def capacity(nodes: list[NodeShape], run: RunResources, limit: int | None = None) -> int:
    """How many such runs the nodes hold at once, at most ``limit`` (None or 0: no limit)."""
    total = 0
    for node in nodes:
        fits = [node.cpus / run.cpus, node.memory / run.memory]
        if run.gpus > 0:
            fits.append(node.gpus / run.gpus + 1e-9)
        total += int(max(0.0, min(fits)) + 1e-9)
    return min(total, limit) if limit else total
