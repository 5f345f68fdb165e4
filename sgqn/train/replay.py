"""Replay buffer on the training device that stores each frame once.

A transition's observation is a stack of ``frame_stack`` frames, and consecutive observations
share all but one of them, so storing stacks would keep every frame ``2 * frame_stack`` times.
Here each rendered frame is written once, into a ring of frames with a global frame id, and
stacks are rebuilt by index when sampling:

    obs_t      = frames[max(g_t - k + 1, e), ..., g_t]      (g_t: id of the newest obs frame)
    next_obs_t = frames[max(g_t - k + 2, e), ..., g_t + 1]  (e: id of the episode's reset frame)

Clamping at ``e`` repeats the reset frame at the start of an episode, as
``gymnasium.wrappers.FrameStackObservation`` does. Frames of an episode have consecutive ids.
The frame ring is a little larger than the transition ring (it also holds one reset frame per
episode); a transition whose oldest frame was overwritten is never sampled.

Saving writes only what was added since the previous save, as numbered ``.npz`` chunks
(``sgqn.train.chunks``), so a checkpoint costs the new data, not the whole buffer. Loading
checks the chunks whole before it changes anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from sgqn.agent.interfaces import Batch
from sgqn.train.chunks import (
    ReplayError,
    chunk_name,
    cut_chunk,
    list_chunks,
    read_chunk,
    resume_chain,
    write_chunk,
)

__all__ = ["Batch", "ReplayBuffer", "ReplayError", "InsufficientMemory", "available_memory"]
# Reset frames beyond one per transition: room for episodes of >= 50 steps before old
# transitions are dropped early (the DMC tasks' episodes are 250 agent steps long).
_EPISODE_FRAME_FRACTION = 50
# Leave this share of free memory to the networks, activations and the allocator.
_MEMORY_HEADROOM = 0.9


class InsufficientMemory(MemoryError):
    """The replay buffer does not fit in the free memory of its device."""


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on ``device`` (free GPU memory, or MemAvailable)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _human(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.2f} GiB" if num_bytes >= 2**30 else f"{num_bytes / 2**20:.1f} MiB"


class ReplayBuffer:
    """Uniform replay of transitions whose observations are stacks of stored frames.

    Args:
        capacity: transitions kept (the oldest are overwritten).
        frame_shape: (3, H, W) of one frame.
        action_dim: size of the action vector.
        frame_stack: frames per observation.
        device: where frames and transitions live (the training device).
        check_memory: raise InsufficientMemory if the buffer does not fit in free memory.

    Example:
        >>> buf = ReplayBuffer(100, (3, 8, 8), action_dim=2, frame_stack=3, device="cpu")
        >>> obs = np.zeros((9, 8, 8), np.uint8)
        >>> buf.add(obs, np.zeros(2), 1.0, obs, terminated=False, truncated=False)
        >>> buf.sample(4).obs.shape
        torch.Size([4, 9, 8, 8])
    """

    def __init__(
        self,
        capacity: int,
        frame_shape: tuple[int, int, int],
        action_dim: int,
        frame_stack: int,
        device: torch.device | str,
        check_memory: bool = True,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, actual value: {capacity}")
        if len(frame_shape) != 3 or frame_shape[0] != 3:
            raise ValueError(f"expected frame_shape (3, H, W), actual value: {frame_shape}")
        if frame_stack < 1:
            raise ValueError(f"frame_stack must be >= 1, actual value: {frame_stack}")
        self.capacity = capacity
        self.frame_capacity = capacity + capacity // _EPISODE_FRAME_FRACTION + frame_stack + 1
        self.frame_shape = tuple(frame_shape)
        self.action_dim = action_dim
        self.frame_stack = frame_stack
        self.device = torch.device(device)
        if check_memory:
            self._check_memory()
        d = self.device
        self._frames = torch.empty(
            (self.frame_capacity, *self.frame_shape), dtype=torch.uint8, device=d
        )
        self._action = torch.empty((capacity, action_dim), dtype=torch.float32, device=d)
        self._reward = torch.empty((capacity, 1), dtype=torch.float32, device=d)
        self._not_done = torch.empty((capacity, 1), dtype=torch.float32, device=d)
        self._newest = torch.empty(capacity, dtype=torch.int64, device=d)  # g_t
        self._start = torch.empty(capacity, dtype=torch.int64, device=d)  # e
        # Host copy of the oldest frame id each transition needs, to find the valid window.
        self._oldest_needed = np.empty(capacity, dtype=np.int64)
        self.num_added = 0  # transitions ever added
        self.num_frames = 0  # frames ever written
        self._first_valid = 0  # oldest transition (global index) whose frames are all kept
        self._episode_start = -1  # frame id of the open episode's reset frame, -1: none open
        self._saved_transitions = 0
        self._saved_frames = 0

    # --- size ------------------------------------------------------------------------------

    @staticmethod
    def bytes_needed(
        capacity: int, frame_shape: tuple[int, ...], action_dim: int, frame_stack: int
    ) -> int:
        """Device bytes of a buffer with these sizes."""
        frames = capacity + capacity // _EPISODE_FRAME_FRACTION + frame_stack + 1
        per_transition = 4 * (action_dim + 2) + 8 * 2
        return frames * int(np.prod(frame_shape)) + capacity * per_transition

    def _check_memory(self) -> None:
        needed = self.bytes_needed(
            self.capacity, self.frame_shape, self.action_dim, self.frame_stack
        )
        available = available_memory(self.device)
        if needed > _MEMORY_HEADROOM * available:
            per = needed / self.capacity
            fits = int(_MEMORY_HEADROOM * available / per)
            raise InsufficientMemory(
                f"a replay buffer of {self.capacity} transitions needs {_human(needed)} "
                f"({needed} bytes) on {self.device}, but only {_human(available)} ({available} "
                f"bytes) is available (at most {_MEMORY_HEADROOM:.0%} of it is used); pass "
                f"--replay-capacity {fits} or less, or free memory on the device"
            )

    def __len__(self) -> int:
        return self.num_added - self._first_valid

    # --- writing ---------------------------------------------------------------------------

    def _write_frame(self, frame: np.ndarray) -> int:
        gid = self.num_frames
        self._frames[gid % self.frame_capacity].copy_(torch.from_numpy(np.ascontiguousarray(frame)))
        self.num_frames += 1
        return gid

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> None:
        """Store one transition; obs and next_obs are (3k, H, W) uint8 stacks.

        Only next_obs's newest frame is written, plus obs's newest frame when the transition
        opens an episode. ``terminated`` ends bootstrapping; ``truncated`` (a time limit) does
        not, but both close the episode.
        """
        if obs.shape != next_obs.shape or obs.shape[0] != 3 * self.frame_stack:
            raise ValueError(
                f"expected obs of shape {(3 * self.frame_stack, *self.frame_shape[1:])}, "
                f"actual shapes: {obs.shape} and {next_obs.shape}"
            )
        if self._episode_start < 0:
            self._episode_start = self._write_frame(obs[-3:])
        newest = self.num_frames - 1
        self._write_frame(next_obs[-3:])
        i = self.num_added % self.capacity
        self._action[i] = torch.as_tensor(np.asarray(action, dtype=np.float32))
        self._reward[i, 0] = float(reward)
        self._not_done[i, 0] = 0.0 if terminated else 1.0
        self._newest[i] = newest
        self._start[i] = self._episode_start
        self._oldest_needed[i] = max(newest - self.frame_stack + 1, self._episode_start)
        self.num_added += 1
        if terminated or truncated:
            self._episode_start = -1
        self._drop_overwritten()

    def _drop_overwritten(self) -> None:
        """Advance the valid window past transitions whose frames or slot were overwritten."""
        self._first_valid = max(self._first_valid, self.num_added - self.capacity)
        oldest_kept_frame = self.num_frames - self.frame_capacity
        while (
            self._first_valid < self.num_added
            and self._oldest_needed[self._first_valid % self.capacity] < oldest_kept_frame
        ):
            self._first_valid += 1

    def end_episode(self) -> None:
        """Close the open episode without a terminal flag (e.g. when the caller resets early)."""
        self._episode_start = -1

    # --- sampling --------------------------------------------------------------------------

    def _stack(self, newest: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        offsets = torch.arange(1 - self.frame_stack, 1, device=self.device)  # (k,) oldest first
        ids = torch.maximum(newest[:, None] + offsets, start[:, None])  # (B, k)
        frames = self._frames[ids % self.frame_capacity]  # (B, k, 3, H, W)
        return frames.flatten(1, 2)  # (B, 3k, H, W)

    def sample(self, batch_size: int) -> Batch:
        """A uniform mini-batch of stored transitions (no Python loop, no host sync)."""
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(self._first_valid, self.num_added, (batch_size,), device=self.device)
        idx = idx % self.capacity
        newest, start = self._newest[idx], self._start[idx]
        return Batch(
            obs=self._stack(newest, start),
            action=self._action[idx],
            reward=self._reward[idx],
            next_obs=self._stack(newest + 1, start),
            not_done=self._not_done[idx],
        )

    # --- saving ----------------------------------------------------------------------------

    def state(self) -> dict[str, int]:
        """The cursor a checkpoint records; :meth:`load` restores the buffer up to it.

        ``episode_start`` is the frame id of the open episode's reset frame (-1 between
        episodes), so that a run checkpointed mid-episode continues that episode;
        ``first_valid`` is the oldest transition the buffer still uses (a resumed buffer needs
        the chunks from there on).
        """
        return {
            "num_added": self.num_added,
            "num_frames": self.num_frames,
            "episode_start": self._episode_start,
            "first_valid": self._first_valid,
        }

    def save(self, folder: str | Path) -> dict[str, int]:
        """Write what was added since the last save as one chunk; return :meth:`state`.

        Chunks the buffer no longer uses stay until :meth:`prune` (after the checkpoint that
        records this state is written: until then the previous checkpoint may need them).

        Raises:
            sgqn.files.WriteError: the chunk could not be written (disk full, ...).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        t0, t1 = self._saved_transitions, self.num_added
        if t1 > t0:
            # Only what is still stored can be saved (a save after a full wrap loses nothing
            # that a reload could have used).
            t0 = max(t0, self.num_added - self.capacity)
            f0 = max(self._saved_frames, self.num_frames - self.frame_capacity)
            f1 = self.num_frames
            t_idx = torch.arange(t0, t1, device=self.device) % self.capacity
            f_idx = torch.arange(f0, f1, device=self.device) % self.frame_capacity
            arrays = {
                "t_range": np.array([t0, t1]),
                "f_range": np.array([f0, f1]),
                "frames": self._frames[f_idx].cpu().numpy(),
                "action": self._action[t_idx].cpu().numpy(),
                "reward": self._reward[t_idx].cpu().numpy(),
                "not_done": self._not_done[t_idx].cpu().numpy(),
                "newest": self._newest[t_idx].cpu().numpy(),
                "start": self._start[t_idx].cpu().numpy(),
            }
            write_chunk(folder / chunk_name(t0, t1, f1), arrays)
            self._saved_transitions, self._saved_frames = t1, f1
        return self.state()

    def prune(self, folder: str | Path) -> None:
        """Remove chunks whose transitions and frames the buffer no longer uses."""
        if len(self) == 0:
            return
        oldest_frame = self._oldest_needed[self._first_valid % self.capacity]
        for chunk in list_chunks(Path(folder)):
            if chunk.t1 <= self._first_valid and chunk.f1 <= oldest_frame:
                chunk.path.unlink(missing_ok=True)

    def load(self, folder: str | Path, state: dict[str, int]) -> None:
        """Restore the buffer from the chunks in ``folder`` up to the cursor ``state``.

        The chunks are checked whole first (``sgqn.train.chunks.resume_chain``: each present,
        contiguous, readable, of the run's shapes); only then are chunks written after the
        checkpoint that recorded ``state`` (a save interrupted before its checkpoint) cut back
        to the cursor, so the folder matches the checkpoint.

        Raises:
            ReplayError: a chunk missing, damaged or inconsistent; the message names it.
        """
        folder = Path(folder)
        num_added, num_frames = int(state["num_added"]), int(state["num_frames"])
        chain, needed = resume_chain(
            folder, state, self.capacity, self.frame_shape, self.action_dim
        )
        cut = None
        for chunk, _ in chain:
            arrays = read_chunk(chunk.path)
            if chunk.t1 > num_added:
                arrays = cut_chunk(arrays, num_added, num_frames)
                cut = (chunk, arrays)
            self._restore_chunk(arrays)
        self.num_added, self.num_frames = num_added, num_frames
        self._first_valid = max(needed, num_added - self.capacity)
        self._episode_start = int(state.get("episode_start", -1))
        self._drop_overwritten()
        if len(self) and self._oldest_needed[self._first_valid % self.capacity] < chain[0][1]:
            raise ReplayError(
                f"{str(chain[0][0].path)!r} starts at frame {chain[0][1]}, after frame "
                f"{self._oldest_needed[self._first_valid % self.capacity]} that transition "
                f"{self._first_valid} needs: an earlier chunk is missing; restore replay/ from a "
                "backup, or start a new run in another --run-dir"
            )
        for chunk in list_chunks(folder):  # what the checkpoint does not know
            if chunk.t0 >= num_added:
                chunk.path.unlink()
        if cut is not None:
            chunk, arrays = cut
            write_chunk(folder / chunk_name(chunk.t0, num_added, num_frames), arrays)
            chunk.path.unlink()
        self._saved_transitions, self._saved_frames = num_added, num_frames

    def _restore_chunk(self, a: dict[str, np.ndarray]) -> None:
        t0, t1 = (int(x) for x in a["t_range"])
        f0, f1 = (int(x) for x in a["f_range"])
        d = self.device
        f_idx = torch.arange(f0, f1, device=d) % self.frame_capacity
        t_idx = torch.arange(t0, t1, device=d) % self.capacity
        self._frames[f_idx] = torch.from_numpy(a["frames"]).to(d)
        self._action[t_idx] = torch.from_numpy(a["action"]).to(d)
        self._reward[t_idx] = torch.from_numpy(a["reward"]).to(d)
        self._not_done[t_idx] = torch.from_numpy(a["not_done"]).to(d)
        self._newest[t_idx] = torch.from_numpy(a["newest"]).to(d)
        self._start[t_idx] = torch.from_numpy(a["start"]).to(d)
        oldest = np.maximum(a["newest"] - self.frame_stack + 1, a["start"])
        self._oldest_needed[t_idx.cpu().numpy()] = oldest
