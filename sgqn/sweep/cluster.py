"""The Ray cluster a sweep runs on: importing Ray, connecting (or starting one here), and the
shape of its nodes (cores, GPUs, GPU memory), re-read as nodes join.
"""

from __future__ import annotations

import logging
import os

from sgqn.sweep.manifest import SweepError
from sgqn.sweep.resources import NodeShape

__all__ = ["import_ray", "connect", "cluster_nodes", "probe_gpu_memory"]

_INSTALL_HINT = 'pip install ".[agent,sweep]"'


def import_ray():
    """The ``ray`` module, or a SweepError that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise SweepError(
            f"python -m sgqn.sweep runs on Ray, which is not installed ({error}); install the "
            f"sweep extra: {_INSTALL_HINT}"
        ) from None
    return ray


def connect(address: str | None, num_cpus: int | None, num_gpus: int | None) -> bool:
    """Connect to the Ray cluster at ``address``, or start one on this machine.

    Args:
        address: a cluster (``host:port``, ``ray://...``, ``auto``); None: ``$RAY_ADDRESS``,
            and without it a new local instance sized to this machine (or to num_cpus/num_gpus).

    Returns:
        True when a local instance was started (the caller shuts it down).
    """
    ray = import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        if num_cpus is not None or num_gpus is not None:
            raise SweepError("--num-cpus/--num-gpus size a local Ray instance, not --address")
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError) as error:
            lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
            auth = "AuthToken" in f"{error} {error.__cause__}"  # Ray chains the real cause
            hint = (
                "the cluster uses token authentication (Ray's default for `ray start`): set "
                "RAY_AUTH_MODE=token here, with the cluster's token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN_PATH"
                if auth
                else "check the address (`ray status` on the head node prints it)"
            )
            raise SweepError(
                f"cannot connect to the Ray cluster at {address!r} ({lines[-1] if lines else error}); "
                f"{hint}"
            ) from None
        return False
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # once here: the workers and training processes inherit the choice
    ray.init(
        address="local",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        log_to_driver=False,  # each run logs to its own folder; the console shows one line
        object_store_memory=128 * 2**20,  # the sweep passes only small dicts through Ray
        logging_level=logging.ERROR,
        # Ray runs workers at niceness 15; the runs are this sweep's work, so they run at the
        # priority sgqn.train would have (on a cluster, its `ray start` decides).
        _system_config={"worker_niceness": 0},
    )
    return True


def _probe_gpu_memory() -> int | None:
    """Memory of one GPU of the cluster (from a tiny task on a GPU node), None if unknown."""
    try:
        import torch

        if torch.cuda.is_available():  # a local instance on this GPU machine
            return int(torch.cuda.get_device_properties(0).total_memory)
    except ImportError:
        pass
    ray = import_ray()

    def gpu_memory() -> int:
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory)

    probe = ray.remote(num_cpus=0, num_gpus=0.0001, max_retries=0)(gpu_memory)
    try:
        return ray.get(probe.remote(), timeout=120)
    except Exception:  # noqa: BLE001  (a busy or odd cluster: fall back to 1 run per GPU)
        return None


def cluster_nodes(gpu_memory: int | None = None) -> list[NodeShape]:
    """The alive nodes of the connected cluster."""
    ray = import_ray()
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive", False):
            continue
        res = node.get("Resources", {})
        gpus = float(res.get("GPU", 0.0))
        nodes.append(
            NodeShape(
                cpus=float(res.get("CPU", 0.0)),
                gpus=gpus,
                memory=int(res.get("memory", 0)),
                gpu_memory=gpu_memory if gpus else None,
            )
        )
    return nodes


def probe_gpu_memory(nodes: list[NodeShape]) -> list[NodeShape]:
    """The nodes with the GPU memory filled in (when the cluster has GPUs)."""
    if not any(n.gpus for n in nodes):
        return nodes
    memory = _probe_gpu_memory()
    return [NodeShape(n.cpus, n.gpus, n.memory, memory if n.gpus else None) for n in nodes]
