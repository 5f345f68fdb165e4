"""Write errors are explained, provoked for real: a full filesystem (a 40 MB tmpfs in a mount
namespace: ENOSPC) and a file-size limit (RLIMIT_FSIZE: EFBIG). Saving a checkpoint, a replay
chunk or a results file fails with one line naming the file, the step of the checkpoint that
is intact, and the command that continues; that command then finishes the run."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmcgb.protocol.results import is_finished
from sgqn.files import WriteError, write_json
from sgqn.train.checkpoint import load_checkpoint, save_checkpoint
from sgqn.train.replay import ReplayBuffer
from tests.sgqn.runs import json_file
from tests.sgqn.train.conftest import FINISHED_STEPS

_LIMIT = 5 * 2**20  # bytes: above a replay chunk and the logs, below the tiny run's checkpoint


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """RLIMIT_FSIZE for this process: a write past ``limit`` bytes fails with EFBIG (Python
    ignores SIGXFSZ, which would otherwise end the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.fixture
def run(finished_runs, tmp_path, dmcgb_data) -> Path:
    return Path(shutil.copytree(finished_runs / "sac", tmp_path / "run"))


def test_a_checkpoint_that_cannot_be_written_names_its_file(run):
    """torch.save reports the OSError of its file inside a RuntimeError ("enforce fail at
    inline_container.cc"); what reaches the caller is one WriteError naming the checkpoint."""
    from sgqn.agent.factory import build_agent
    from sgqn.train.checkpoint import config_from_dict

    payload = load_checkpoint(run / "checkpoint.pt")
    cfg = config_from_dict(payload["config"])
    agent = build_agent(cfg.obs_shape, (1,), cfg, "cpu")
    before = (run / "checkpoint.pt").read_bytes()
    with _file_size_limit(_LIMIT), pytest.raises(WriteError) as failed:
        save_checkpoint(run / "checkpoint.pt", agent=agent, cfg=cfg, step=99, action_shape=[1])
    assert failed.value.errno == errno.EFBIG and failed.value.path == run / "checkpoint.pt"
    assert str(failed.value) == f"cannot write '{run / 'checkpoint.pt'}': File too large"
    assert (run / "checkpoint.pt").read_bytes() == before  # the previous one is intact
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []  # no temp file


def test_replay_chunks_and_results_files_name_theirs(tmp_path):
    buf = ReplayBuffer(100, (3, 84, 84), 2, 3, "cpu")
    frames = np.frombuffer(os.urandom(9 * 84 * 84), np.uint8).reshape(9, 84, 84).copy()
    for _ in range(60):  # 60 frames of 21 KB: a 1.3 MB chunk
        buf.add(frames, np.zeros(2), 0.0, frames, False, False)
    with (
        _file_size_limit(2**20),
        pytest.raises(WriteError, match=r"chunk_000000000000_.*too large"),
    ):
        buf.save(tmp_path / "replay")
    with _file_size_limit(10), pytest.raises(WriteError, match=r"results.json': File too large"):
        write_json(tmp_path / "results.json", {"returns": list(range(100))})
    assert not list(tmp_path.rglob("*.npz")) and not (tmp_path / "results.json").exists()


def _expected_line(run: Path, cause: str) -> str:
    return (
        f"sgqn.train: error: cannot write '{run / 'checkpoint.pt'}': {cause}; the previous "
        f"checkpoint (step {FINISHED_STEPS}) is intact: free space (or fix the cause), then "
        f"continue with: python -m sgqn.train --resume --run-dir {run}\n"
    )


def _limit_file_size():
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
    )


def test_a_file_size_limit_stops_the_run_with_the_command_that_continues(run):
    end = FINISHED_STEPS + 5
    command = [sys.executable, "-m", "sgqn.train", "--resume", "--run-dir", str(run)]
    limited = subprocess.run(
        [*command, "--steps", str(end)], capture_output=True, text=True,
        preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert limited.returncode == 2, limited.stderr
    assert limited.stderr.endswith(_expected_line(run, "File too large")), limited.stderr
    assert "Traceback" not in limited.stderr
    assert load_checkpoint(run / "checkpoint.pt")["step"] == FINISHED_STEPS
    finished = subprocess.run([*command, "--steps", str(end)], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert is_finished(run) and json_file(run / "results.json")["step"] == end


def _can_mount_tmpfs(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount -t tmpfs -o size=1m tmpfs {probe}"
    return (
        subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True).returncode == 0
    )


def test_a_full_disk_stops_the_run_with_the_command_that_continues(run, tmp_path):
    """The run on a tmpfs 8 MB larger than it: the new replay chunk and the logs fit, the
    next checkpoint (31 MB) does not: ENOSPC, for real."""
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs here (needs unshare and user namespaces)")
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) + 8 * 2**20
    disk, end = tmp_path / "disk", FINISHED_STEPS + 5
    disk.mkdir()
    train = f"{sys.executable} -m sgqn.train --resume --run-dir {disk / 'run'} --steps {end}"
    script = "\n".join([
        f"mount -t tmpfs -o size={size} tmpfs {disk} && cp -r {run} {disk}/run || exit 99",
        f"{train} 2> {tmp_path}/full.err; echo $? > {tmp_path}/full.code",
        f"mount -o remount,size={size + 64 * 2**20} {disk}",  # space freed
        f"{train} > /dev/null 2> {tmp_path}/freed.err; echo $? > {tmp_path}/freed.code",
        f"cp {disk}/run/results.json {tmp_path}/results.json",
    ])  # fmt: skip
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    err = (tmp_path / "full.err").read_text()
    assert (tmp_path / "full.code").read_text().strip() == "2", err
    assert err.endswith(_expected_line(disk / "run", "No space left on device")), err
    assert "Traceback" not in err
    assert (tmp_path / "freed.code").read_text().strip() == "0", (
        tmp_path / "freed.err"
    ).read_text()
    assert json_file(tmp_path / "results.json")["step"] == end
