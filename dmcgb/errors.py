"""Errors raised by dmcgb, each naming the problem and the fix."""

from __future__ import annotations

from gymnasium import error as gym_error

__all__ = [
    "DMCGBError",
    "UnknownTask",
    "MissingData",
    "OfflineError",
    "DownloadError",
    "ChecksumError",
    "UnsafeArchive",
    "CorruptData",
    "RenderingBackendError",
    "MismatchedDependencies",
]


class DMCGBError(gym_error.Error):
    """Base class of every dmcgb error."""


class UnknownTask(DMCGBError, ValueError):
    """An env id, task or mode that dmcgb does not provide."""


class MissingData(DMCGBError, FileNotFoundError):
    """A data asset is not in the cache and could not be fetched."""


class OfflineError(MissingData):
    """A fetch was needed but the machine is offline (or ``DMCGB_OFFLINE=1``)."""


class DownloadError(DMCGBError, OSError):
    """A download failed (HTTP error, connection lost, server hung up)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected sha256; it was not kept."""


class CorruptData(DMCGBError, OSError):
    """A cached data file cannot be used as it is (it decodes short, or not at all)."""


class UnsafeArchive(DMCGBError, ValueError):
    """A tar archive holds a member that would land outside the destination."""


class RenderingBackendError(DMCGBError, RuntimeError):
    """No OpenGL backend (EGL, OSMesa, GLFW) could create a MuJoCo context."""


class MismatchedDependencies(DMCGBError, ImportError):
    """Installed packages that cannot run together (dm_control built for another MuJoCo)."""
