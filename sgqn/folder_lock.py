"""One owner per folder: an advisory lock that names its owner and outlives no process.

``sgqn.train`` holds ``<run>/.lock`` while it writes a run, ``sgqn.eval`` while it writes its
evaluation into one, and ``sgqn.sweep`` holds ``<sweep>/.sweep.lock`` while its driver runs.
A second process is refused at once, with one line naming the owner (host, PID, command,
since when); a lock left by a process that died is taken over, and the taker says so.

How ownership is decided, on local and shared (cluster) filesystems:

- The lock file holds the owner's record (one JSON line: host, boot id, PID namespace, PID,
  the process's start time, command, start time), and its owner holds ``flock(LOCK_EX)`` on
  it. The kernel releases that lock when the process ends, however it ends. On NFS, Linux
  implements ``flock`` with NFS byte-range locks (lockd for v3, in the protocol for v4), and
  Lustre shares it between clients when mounted with ``-o flock`` (``-o localflock`` keeps it
  on each client), so a process on another host sees it too. Where the filesystem refuses
  ``flock`` (Lustre ``-o noflock`` answers ENOSYS), the lock file itself is the claim: it is
  created with ``O_EXCL``, atomic on local filesystems, NFSv3+ and Lustre.
- A record left behind (the lock file exists, its ``flock`` is free) is stale when its owner
  is proven gone. On the same machine (same host name, boot and PID namespace) the PID is
  checked: gone, or reused by a process that started later. A PID on another host cannot be
  checked, so the owner refreshes the file's modification time every :data:`HEARTBEAT`
  seconds, and a record from another host counts as gone when the kernel lock is free *and*
  the record has not been refreshed for :data:`STALE_AFTER` seconds: a dead host's lock is
  taken over after two minutes, and a live one is never taken over even on a filesystem whose
  locks are local to each host (NFS mounted ``nolock``, Lustre ``localflock``), where the
  free kernel lock proves nothing. This assumes the hosts' clocks agree within a minute.
- Without ``flock`` a record from another host is never taken over (nothing proves its owner
  gone): the message says to delete the lock file once that host's process is known to be
  gone. The same holds on NFSv3 for a host that crashed and never came back (its lock stays
  with the server until the host reboots): deleting the file frees the folder.

The lock file is removed when its owner releases it; a refused command changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sgqn.config import ConfigError

__all__ = ["LOCK_NAME", "HEARTBEAT", "STALE_AFTER", "Owner", "FolderInUse", "FolderLock"]

LOCK_NAME = ".lock"
HEARTBEAT = 20.0  # s between refreshes of the lock file's modification time
STALE_AFTER = 120.0  # s without a refresh after which another host's record counts as gone
_NO_FLOCK = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}
_MAX_RECORD = 4096  # bytes


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _boot_id() -> str:
    return _read("/proc/sys/kernel/random/boot_id") or ""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); [] if none."""
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rfind(")") + 2 :].split() if stat else []  # the name may hold spaces


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        return int(_proc_stat(pid)[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: enough to find the process, and to tell whether it still runs."""

    pid: int
    host: str
    boot_id: str
    pid_namespace: str
    start_ticks: int | None
    command: str
    since: str

    @classmethod
    def this_process(cls) -> Owner:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            boot_id=_boot_id(),
            pid_namespace=_pid_namespace(),
            start_ticks=_start_ticks(os.getpid()),
            command=" ".join([_program(), *map(shlex.quote, sys.argv[1:])])[:300],
            since=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        )

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner a lock file's record names, or None for an empty or damaged record."""
        try:
            data = json.loads(text)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            return None

    def record(self) -> str:
        return json.dumps(asdict(self)) + "\n"

    def on_this_machine(self) -> bool:
        """Same host name, boot and PID namespace: its PID can be checked here."""
        here = Owner.this_process()
        return (self.host, self.boot_id, self.pid_namespace) == (
            here.host,
            here.boot_id,
            here.pid_namespace,
        )

    def gone_here(self) -> str | None:
        """Why this owner, on this machine, no longer runs; None while it runs."""
        if self.pid == os.getpid():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return f"pid {self.pid} is no longer running"
        except PermissionError:
            pass  # another user's process: it exists
        if _proc_stat(self.pid)[:1] in (["Z"], ["X"]):  # exited, not yet reaped
            return f"pid {self.pid} is no longer running"
        ticks = _start_ticks(self.pid)
        if self.start_ticks is not None and ticks is not None and ticks != self.start_ticks:
            return f"pid {self.pid} is now another process"
        return None

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} ({self.command}, since {self.since})"


def _program() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name.removesuffix(".__main__")
        return f"python -m {name}"
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


class FolderInUse(ConfigError):
    """Another process owns the folder; ``owner`` says who (None: a claim being written)."""

    def __init__(self, message: str, owner: Owner | None) -> None:
        super().__init__(message)
        self.owner = owner


class FolderLock:
    """The lock on one folder (see the module docstring for the protocol).

    Args:
        folder: the folder owned.
        name: the lock file's name inside it.
        what: how messages name the folder, e.g. ``--run-dir 'runs/x'``.

    Example:
        >>> with FolderLock(run_dir) as lock:  # doctest: +SKIP
        ...     ...  # write the run; lock.note says if a dead owner's lock was taken over
    """

    def __init__(self, folder: str | Path, name: str = LOCK_NAME, what: str | None = None):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what or repr(str(self.folder))
        self.note: str | None = None  # set when a dead owner's lock was taken over
        self.kernel_lock = True  # whether flock works here
        self._fd: int | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # --- acquiring ---------------------------------------------------------------------------

    def acquire(self, wait: float = 0.0, poll: float = 1.0) -> FolderLock:
        """Own the folder, waiting up to ``wait`` seconds for another owner to finish.

        Returns:
            self; ``self.note`` says whether a dead owner's lock was taken over.

        Raises:
            FolderInUse: another live process owns it (one line naming the owner).
            OSError: the lock file cannot be created (the folder is missing or read-only).
        """
        deadline = time.monotonic() + wait
        while True:
            try:
                self._try_acquire()
                break
            except FolderInUse:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(poll)
        self._heartbeat = threading.Thread(
            target=self._beat, name=f"lock heartbeat {self.path}", daemon=True
        )
        self._heartbeat.start()
        return self

    def _try_acquire(self) -> None:
        for _ in range(100):  # another process may remove or replace the file meanwhile
            fd, created = self._open()
            if fd is None:
                continue
            try:
                if self._claim(fd, created):
                    self._fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the file was replaced meanwhile: look again
        raise OSError(errno.EAGAIN, f"the lock file {self.path} keeps changing; try again")

    def _open(self) -> tuple[int | None, bool]:
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            pass
        try:
            return os.open(self.path, flags), False
        except FileNotFoundError:  # released between the two opens
            return None, False

    def _claim(self, fd: int, created: bool) -> bool:
        """Take the lock through ``fd``; False if the file was replaced meanwhile."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._in_use(self._record(fd), "its lock is held") from None
        except OSError as error:
            if error.errno not in _NO_FLOCK:
                raise
            self.kernel_lock = False
        if not self._is_current(fd):
            return False
        if not created:
            text = self._record(fd)
            owner = Owner.parse(text) if text else None
            note = None
            if owner is not None:
                reason = self._gone(owner, fd)
                if reason is None:
                    raise self._in_use(owner, "it still runs")
                note = (
                    f"took over {self.what} from {owner.describe()}, which left its lock "
                    f"behind: {reason}"
                )
            elif not self.kernel_lock and self._age(fd) < 2.0:
                raise self._in_use(None, "another process is writing its claim")
            self.note = note
            if not self.kernel_lock:  # the file is the claim: break it, then create afresh
                self._break(fd)
                return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, Owner.this_process().record().encode(), 0)
        os.fsync(fd)
        return True

    def _break(self, fd: int) -> None:
        """Remove a stale lock file (without flock), unless a new claim replaced it meanwhile."""
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another process broke it first
        try:
            if not os.path.samestat(os.stat(aside), os.fstat(fd)):
                with contextlib.suppress(OSError):  # a fresh claim: put it back
                    os.link(aside, self.path)
        finally:
            aside.unlink(missing_ok=True)

    def _is_current(self, fd: int) -> bool:
        """Whether the path still names the file ``fd`` opened (not removed and re-created)."""
        try:
            ours, now = os.fstat(fd), os.stat(self.path)
        except FileNotFoundError:
            return False
        return (ours.st_dev, ours.st_ino) == (now.st_dev, now.st_ino)

    def _gone(self, owner: Owner, fd: int) -> str | None:
        """Why a record's owner is gone, or None when it may still run."""
        if owner.on_this_machine():
            return owner.gone_here()
        if not self.kernel_lock:
            return None  # nothing proves a process on another host gone
        age = self._age(fd)
        if age < STALE_AFTER:
            return None
        return f"its lock is free and was last refreshed {age:.0f} s ago"

    @staticmethod
    def _record(fd: int) -> str:
        try:
            return os.pread(fd, _MAX_RECORD, 0).decode(errors="replace").strip()
        except OSError:
            return ""

    @staticmethod
    def _age(fd: int) -> float:
        return time.time() - os.fstat(fd).st_mtime

    def _in_use(self, owner: Owner | str | None, why: str) -> FolderInUse:
        if isinstance(owner, str):
            owner = Owner.parse(owner) if owner else None
        if owner is None:
            return FolderInUse(
                f"{self.what} is in use by another process ({why}); wait for it, or pass "
                "another folder",
                None,
            )
        if owner.on_this_machine():
            fix = f"wait for it to finish, or stop it (kill {owner.pid})"
        else:
            fix = (
                f"wait for it, or stop it on {owner.host}; if that process is gone for good "
                f"and the folder stays locked, delete {self.path}"
            )
        return FolderInUse(f"{self.what} is in use by {owner.describe()}; {fix}", owner)

    # --- holding and releasing ---------------------------------------------------------------

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            with contextlib.suppress(OSError, TypeError):
                os.utime(self._fd)  # type: ignore[arg-type]

    def release(self) -> None:
        """Remove the lock file (if it is still this one) and release the lock."""
        if self._fd is None:
            return
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        fd, self._fd = self._fd, None
        try:
            if self._is_current(fd):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # type: ignore[arg-type]
