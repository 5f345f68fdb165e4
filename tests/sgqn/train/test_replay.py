"""The replay buffer returns exactly the stacks gymnasium's frame stacking produced."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

from dmcgb.protocol.envs import to_chw
from sgqn.train.replay import InsufficientMemory, ReplayBuffer, ReplayError
from tests.conftest import SEED

_K = 3


class _CountingEnv(gym.Env):
    """8x8 RGB frames that encode (episode, step); ends by termination at random."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self) -> None:
        self.episode, self.t = -1, 0

    def _frame(self) -> np.ndarray:
        frame = np.zeros((8, 8, 3), np.uint8)
        frame[..., 0] = self.episode % 256
        frame[..., 1] = self.t % 256
        frame[..., 2] = self.t // 256
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        terminated = bool(self.np_random.random() < 0.05)
        return self._frame(), float(self.t), terminated, False, {}


def _fill(buf: ReplayBuffer, steps: int, max_episode_steps: int = 20) -> list[tuple]:
    """Run the framestacked env, add every transition; return them with action[0] = index."""
    env = gym.wrappers.FrameStackObservation(
        gym.wrappers.TimeLimit(_CountingEnv(), max_episode_steps), stack_size=_K
    )
    obs, _ = env.reset(seed=SEED)
    transitions = []
    for i in range(steps):
        action = np.array([i, -i], np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        o, no = to_chw(obs), to_chw(next_obs)
        buf.add(o, action, reward, no, terminated, truncated)
        transitions.append((o, action, reward, no, terminated))
        obs = env.reset()[0] if terminated or truncated else next_obs
    return transitions


def _check_batch(batch, transitions) -> None:
    for b in range(batch.obs.shape[0]):
        i = int(batch.action[b, 0])
        o, action, reward, no, terminated = transitions[i]
        np.testing.assert_array_equal(batch.obs[b].numpy(), o)
        np.testing.assert_array_equal(batch.next_obs[b].numpy(), no)
        np.testing.assert_array_equal(batch.action[b].numpy(), action)
        assert batch.reward[b, 0] == reward
        assert batch.not_done[b, 0] == (0.0 if terminated else 1.0)


def test_sampled_stacks_match_frame_stacking_across_episode_starts():
    torch.manual_seed(SEED)
    buf = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, 300)
    assert len(buf) == 300
    batch = buf.sample(512)
    assert batch.obs.shape == (512, 3 * _K, 8, 8) and batch.obs.dtype == torch.uint8
    _check_batch(batch, transitions)
    # the sample covers episode starts, terminations and truncations
    steps = batch.obs[:, -2, 0, 0]
    assert (steps == 0).any() and (batch.not_done == 0).any()


def test_truncation_is_not_terminal():
    buf = ReplayBuffer(100, (3, 8, 8), 2, _K, "cpu")
    obs = np.zeros((3 * _K, 8, 8), np.uint8)
    buf.add(obs, np.zeros(2), 0.0, obs, terminated=False, truncated=True)
    buf.add(obs, np.zeros(2), 0.0, obs, terminated=True, truncated=False)
    assert buf._not_done[:2, 0].tolist() == [1.0, 0.0]


def test_each_frame_is_stored_once():
    buf = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, 300)
    episodes = sum(1 for o, *_ in transitions if o[-2, 0, 0] == 0)  # newest frame at t=0
    # one frame per transition plus one reset frame per episode
    assert buf.num_frames == 300 + episodes


def test_ring_keeps_only_the_newest_transitions_and_stays_consistent():
    torch.manual_seed(SEED)
    buf = ReplayBuffer(100, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, 450)
    assert 0 < len(buf) <= 100
    batch = buf.sample(1024)
    assert int(batch.action[:, 0].min()) >= 450 - 100
    _check_batch(batch, transitions)


def test_save_load_restores_the_same_samples(tmp_path):
    buf = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, 120)
    buf.save(tmp_path)
    # more data after the first save goes into a second chunk
    for o, a, r, no, term in transitions[:50]:
        buf.add(o, a + 1000, r, no, term, False)
    state = buf.save(tmp_path)
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 2
    restored = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    restored.load(tmp_path, state)
    assert restored.state() == buf.state() and len(restored) == len(buf)
    torch.manual_seed(1)
    a = buf.sample(256)
    torch.manual_seed(1)
    b = restored.sample(256)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_load_cuts_chunks_written_after_the_checkpoint(tmp_path):
    buf = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, 100)
    state = buf.save(tmp_path)  # the checkpoint records this cursor
    for o, a, r, no, term in transitions[:30]:
        buf.add(o, a, r, no, term, False)
    buf.save(tmp_path)  # interrupted run: chunk saved, checkpoint not
    restored = ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu")
    restored.load(tmp_path, state)
    assert restored.state() == state and len(restored) == 100
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 1
    _check_batch(restored.sample(256), transitions)


def test_capacity_beyond_free_memory_names_sizes_and_flag():
    with pytest.raises(InsufficientMemory, match=r"needs .* bytes.*--replay-capacity"):
        ReplayBuffer(10**9, (3, 84, 84), 6, _K, "cpu")


def test_bytes_needed_counts_each_frame_once():
    per_frame = 3 * 84 * 84
    needed = ReplayBuffer.bytes_needed(500_000, (3, 84, 84), 6, 3)
    assert 500_000 * per_frame < needed < 1.05 * 500_000 * per_frame


# --- the chunks checked whole on resume ---------------------------------------------------------


def _saved_in_chunks(folder, steps=(40, 40, 40), capacity=1000, tail=20):
    """A buffer saved in one chunk per entry of ``steps``, its cursor, and a chunk written
    after that cursor (a save whose checkpoint never came)."""
    buf = ReplayBuffer(capacity, (3, 8, 8), 2, _K, "cpu")
    transitions = _fill(buf, sum(steps) + tail)
    replayed = ReplayBuffer(capacity, (3, 8, 8), 2, _K, "cpu")
    for o, a, r, no, term in transitions[: sum(steps)]:
        replayed.add(o, a, r, no, term, False)
        if replayed.num_added in np.cumsum(steps):
            state = replayed.save(folder)
    for o, a, r, no, term in transitions[sum(steps) :]:
        replayed.add(o, a, r, no, term, False)
    replayed.save(folder)
    return state, transitions


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused_load(folder, state, match):
    before = _snapshot(folder)
    with pytest.raises(ReplayError, match=match) as refused:
        ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu").load(folder, state)
    assert "\n" not in str(refused.value) and "start a new run" in str(refused.value)
    assert _snapshot(folder) == before  # a refused load changes nothing
    return str(refused.value)


def test_a_missing_middle_chunk_is_named_and_nothing_changes(tmp_path):
    """Once accepted: only the last chunk's end was compared with the cursor."""
    state, _ = _saved_in_chunks(tmp_path)
    middle = sorted(tmp_path.glob("chunk_*"))[1]
    assert middle.name.startswith("chunk_000000000040_000000000080_")
    middle.unlink()
    message = _refused_load(tmp_path, state, "transitions 40 to 80 are missing")
    assert "no chunk_000000000040_*.npz before chunk_000000000080_" in message


def test_a_missing_first_or_last_chunk_is_named(tmp_path):
    state, _ = _saved_in_chunks(tmp_path)
    first = sorted(tmp_path.glob("chunk_*"))[0]
    first.rename(tmp_path / "aside")
    _refused_load(tmp_path, state, "transitions 0 to 40 are missing")
    (tmp_path / "aside").rename(first)
    for chunk in sorted(tmp_path.glob("chunk_*"))[2:]:  # the cursor's chunk and the later one
        chunk.unlink()
    _refused_load(tmp_path, state, "records 120 transitions, the chunks end at 80")


def test_a_truncated_or_corrupted_chunk_is_named(tmp_path):
    """Once a zipfile.BadZipFile traceback; a flipped bit in the frames fails the zip's CRC."""
    state, _ = _saved_in_chunks(tmp_path)
    chunk = sorted(tmp_path.glob("chunk_*"))[1]
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    _refused_load(tmp_path, state, rf"{chunk.name}' is damaged and cannot be read \(BadZipFile")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x01  # inside the frames array
    chunk.write_bytes(bytes(flipped))
    _refused_load(tmp_path, state, rf"{chunk.name}' is damaged .*CRC")


def test_a_chunk_of_another_run_is_named(tmp_path):
    state, _ = _saved_in_chunks(tmp_path)
    other = ReplayBuffer(1000, (3, 16, 16), 2, _K, "cpu")  # other frame size
    obs = np.zeros((3 * _K, 16, 16), np.uint8)
    for _ in range(40):
        other.add(obs, np.zeros(2), 0.0, obs, False, False)
    middle = sorted(tmp_path.glob("chunk_*"))[1]
    other_dir = tmp_path / "other"
    other._saved_transitions, other._saved_frames = 0, 0
    other.save(other_dir)
    other_chunk = next(other_dir.glob("chunk_*"))
    arrays = dict(np.load(other_chunk))
    arrays["t_range"], arrays["f_range"] = np.array([40, 80]), np.array([43, 86])
    arrays["frames"] = np.zeros((43, 3, 16, 16), np.uint8)
    shutil.rmtree(other_dir)
    np.savez(middle, **arrays)
    _refused_load(tmp_path, state, r"does not fit the run: its frames is uint8\[43, 3, 16, 16\]")


def test_a_wrapped_buffer_resumes_from_the_chunks_it_still_uses(tmp_path):
    """With a small ring, chunks before the oldest used transition are pruned once the
    checkpoint that no longer needs them is written, and the rest restore the same buffer."""
    buf = ReplayBuffer(50, (3, 8, 8), 2, _K, "cpu")
    env_steps = _fill(ReplayBuffer(1000, (3, 8, 8), 2, _K, "cpu"), 180)
    for i, (o, a, r, no, term) in enumerate(env_steps):
        buf.add(o, a, r, no, term, False)
        if (i + 1) % 30 == 0:
            state = buf.save(tmp_path)
            before_prune = len(list(tmp_path.glob("chunk_*")))
            buf.prune(tmp_path)
    assert state["first_valid"] > 0
    assert len(list(tmp_path.glob("chunk_*"))) < before_prune  # old chunks were pruned
    restored = ReplayBuffer(50, (3, 8, 8), 2, _K, "cpu")
    restored.load(tmp_path, state)
    assert restored.state() == state and len(restored) == len(buf) > 0
    torch.manual_seed(2)
    a = buf.sample(64)
    torch.manual_seed(2)
    for x, y in zip(a, restored.sample(64), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
