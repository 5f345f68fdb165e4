"""Safe parsing of the benchmark's colour files (``color_easy.pt``, ``color_hard.pt``).

The files are ``torch.save`` pickles of a list of 100 dicts of numpy arrays. A pickle can run
any code when loaded, so it is read here with an unpickler that resolves only the four
globals numpy arrays need (``_reconstruct``, ``ndarray``, ``dtype``, ``_codecs.encode``)
and refuses everything else; torch is not imported. Both torch formats are read: the
legacy one (five pickles in a row; what the benchmark ships) and the zip one (``*/data.pkl``).
The result is then checked: 100 settings, each with the four keys, each an RGB 3-vector of
floats in [0, 1].
"""

from __future__ import annotations

import codecs
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["COLOR_KEYS", "COLOR_SETTINGS", "parse_colors"]

COLOR_KEYS = ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")
COLOR_SETTINGS = 100  # settings per colour file

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of a legacy torch.save file
_LEGACY_PROTOCOL = 1001


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as numpy pickles use it (array bytes as latin-1 text), and no other."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


# (module, name) -> object: the only globals a colour file may name.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers, and nothing else."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._source}: refusing to load global {module}.{name}: a colour file holds "
                "only numpy arrays. Delete the file and fetch it again "
                "(python -m dmcgb.data fetch color_easy color_hard)"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            f"{self._source}: holds torch tensors ({pid!r}); a colour file holds only numpy "
            "arrays. Delete the file and fetch it again"
        )


def _load_pickle(data: bytes, source: str):
    return _NumpyOnlyUnpickler(io.BytesIO(data), source).load()


def _read_payload(path: Path):
    """The saved object of a torch file, legacy or zip format, loaded restrictedly."""
    source = str(path)
    raw = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise ValueError(
                    f"{source}: expected one data.pkl in the torch zip file, found {pickles}"
                )
            return _load_pickle(archive.read(pickles[0]), source)
    stream = io.BytesIO(raw)
    # Legacy torch format: magic number, protocol version, system info, the object, storage keys.
    magic = _NumpyOnlyUnpickler(stream, source).load()
    protocol = _NumpyOnlyUnpickler(stream, source).load()
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"{source}: not a torch file (magic {magic!r}, protocol {protocol!r})")
    _NumpyOnlyUnpickler(stream, source).load()  # system info: a dict of ints
    payload = _NumpyOnlyUnpickler(stream, source).load()
    storages = _NumpyOnlyUnpickler(stream, source).load()
    if storages:
        raise ValueError(f"{source}: holds torch storages {storages!r}; expected numpy arrays only")
    return payload


def parse_colors(path: Path | str) -> list[dict[str, np.ndarray]]:
    """Read and check a colour file without running any code it may contain.

    Args:
        path: a ``color_easy.pt`` or ``color_hard.pt`` file.

    Returns:
        100 dicts, each mapping ``grid_rgb1``, ``grid_rgb2``, ``self_rgb``, ``skybox_rgb`` to a
        float64 array of shape (3,) with values in [0, 1].

    Raises:
        pickle.UnpicklingError: the file names a global other than numpy's array builders.
        ValueError: the file is not a torch file, or its content is not 100 colour settings.
    """
    path = Path(path)
    payload = _read_payload(path)
    if not isinstance(payload, list) or len(payload) != COLOR_SETTINGS:
        size = len(payload) if isinstance(payload, list) else type(payload).__name__
        raise ValueError(
            f"{path}: expected a list of {COLOR_SETTINGS} colour settings, actual: {size}"
        )
    settings = []
    for index, setting in enumerate(payload):
        if not isinstance(setting, dict) or set(setting) != set(COLOR_KEYS):
            keys = sorted(setting) if isinstance(setting, dict) else type(setting).__name__
            raise ValueError(
                f"{path}: setting {index}: expected keys {list(COLOR_KEYS)}, actual: {keys}"
            )
        checked = {}
        for key in COLOR_KEYS:
            value = setting[key]
            if not (
                isinstance(value, np.ndarray)
                and value.shape == (3,)
                and value.dtype.kind == "f"
                and np.all((value >= 0) & (value <= 1))
            ):
                raise ValueError(
                    f"{path}: setting {index}, {key}: expected 3 floats in [0, 1], actual: {value!r}"
                )
            checked[key] = value.astype(np.float64, copy=True)
        settings.append(checked)
    return settings
