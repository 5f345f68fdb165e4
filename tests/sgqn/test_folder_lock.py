"""One owner per folder (``sgqn.folder_lock``), with real processes: a live owner refuses
others at once, naming itself; a dead one's lock is taken over, and the taker says why; a
record from another host is judged by its heartbeat; without flock the file is the claim."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sgqn import folder_lock
from sgqn.config import ConfigError
from sgqn.folder_lock import LOCK_NAME, STALE_AFTER, FolderInUse, FolderLock, Owner

_HOLD = """
import sys, time
from sgqn.folder_lock import FolderLock
lock = FolderLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(600)
"""


def _holder(folder):
    """A real process that owns ``folder`` until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _record(folder, **changes) -> None:
    """Write a lock record as another process would have left it."""
    owner = {**Owner.this_process().__dict__, **changes}
    (folder / LOCK_NAME).write_text(json.dumps(owner) + "\n")


def test_a_live_owner_refuses_a_second_process_naming_itself(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(FolderInUse) as refused:
            FolderLock(tmp_path, what="--run-dir 'x'").acquire()
        message = str(refused.value)
        assert message.startswith(f"--run-dir 'x' is in use by pid {holder.pid} on host ")
        assert f"kill {holder.pid}" in message and "\n" not in message
        assert isinstance(refused.value, ConfigError)  # the commands' exit status 2
        assert refused.value.owner.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_and_said_so(tmp_path):
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid  # left behind
    lock = FolderLock(tmp_path).acquire()
    try:
        assert f"from pid {holder.pid} on host" in lock.note
        assert f"pid {holder.pid} is no longer running" in lock.note
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert not (tmp_path / LOCK_NAME).exists()  # released: nothing left


def test_a_reused_pid_does_not_keep_a_dead_owners_lock(tmp_path):
    """The record's PID now belongs to another process (it started at another time)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _record(tmp_path, pid=other.pid, start_ticks=1)
        lock = FolderLock(tmp_path).acquire()
        assert f"pid {other.pid} is now another process" in lock.note
        lock.release()
        # the same PID with its real start time is a live owner (its lock file, no flock)
        _record(tmp_path, pid=other.pid, start_ticks=folder_lock._start_ticks(other.pid))
        with pytest.raises(FolderInUse, match=f"pid {other.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        other.kill()
        other.wait()


def test_another_hosts_record_is_judged_by_its_heartbeat(tmp_path):
    """A PID on another host cannot be checked: a record refreshed within STALE_AFTER is a
    live owner even with its flock free (locks may not be shared between hosts), an older one
    is gone."""
    _record(tmp_path, host="node-elsewhere", boot_id="b", pid=123)
    with pytest.raises(FolderInUse) as refused:
        FolderLock(tmp_path).acquire()
    assert "pid 123 on host node-elsewhere" in str(refused.value)
    assert f"delete {tmp_path / LOCK_NAME}" in str(refused.value)
    old = time.time() - STALE_AFTER - 5
    os.utime(tmp_path / LOCK_NAME, (old, old))
    lock = FolderLock(tmp_path).acquire()
    assert "its lock is free and was last refreshed" in lock.note
    lock.release()


def test_the_owner_refreshes_its_record(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_lock, "HEARTBEAT", 0.05)
    lock = FolderLock(tmp_path).acquire()
    try:
        old = time.time() - 1000
        os.utime(tmp_path / LOCK_NAME, (old, old))
        deadline = time.monotonic() + 10
        while os.stat(tmp_path / LOCK_NAME).st_mtime < old + 500:
            assert time.monotonic() < deadline, "the heartbeat did not refresh the record"
            time.sleep(0.05)
    finally:
        lock.release()


def test_release_leaves_a_lock_file_that_is_no_longer_its_own(tmp_path):
    lock = FolderLock(tmp_path).acquire()
    os.rename(tmp_path / LOCK_NAME, tmp_path / "aside")
    _record(tmp_path, pid=1)  # someone else's claim now
    lock.release()
    assert (tmp_path / LOCK_NAME).exists()


@pytest.fixture
def no_flock(monkeypatch):
    """A filesystem that refuses flock, as Lustre mounted -o noflock does (ENOSYS).

    This machine's filesystems all support flock, so the refusal is simulated at the one call.
    """

    def flock(fd, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(folder_lock.fcntl, "flock", flock)


def test_without_flock_the_file_is_the_claim(tmp_path, no_flock):
    first = FolderLock(tmp_path).acquire()
    assert not first.kernel_lock
    with pytest.raises(FolderInUse, match=f"pid {os.getpid()}"):
        FolderLock(tmp_path).acquire()  # this process's own claim is a live owner's
    first.release()
    assert not (tmp_path / LOCK_NAME).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)  # fmt: skip
    _record(tmp_path, pid=int(dead.stdout))
    lock = FolderLock(tmp_path).acquire()
    assert "is no longer running" in lock.note
    lock.release()


def test_without_flock_another_hosts_record_is_never_taken_over(tmp_path, no_flock):
    _record(tmp_path, host="node-elsewhere", boot_id="b", pid=123)
    old = time.time() - 10 * STALE_AFTER
    os.utime(tmp_path / LOCK_NAME, (old, old))
    with pytest.raises(FolderInUse, match="if that process is gone for good .* delete"):
        FolderLock(tmp_path).acquire()


def test_waiting_for_an_owner_to_finish(tmp_path):
    holder = _holder(tmp_path)
    start = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 2; kill {holder.pid}"])
    lock = FolderLock(tmp_path).acquire(wait=60, poll=0.2)
    holder.wait()
    assert 1.5 < time.monotonic() - start < 60
    lock.release()
