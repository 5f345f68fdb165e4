"""The data layer against a real HTTP server on 127.0.0.1 serving the real DMControl-GB files."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dmcgb import data
from dmcgb.data import archive, colors, digests, download
from dmcgb.errors import (
    ChecksumError,
    DownloadError,
    MissingData,
    OfflineError,
    UnsafeArchive,
)
from tests.dmcgb.http_server import FileServer

_COMMIT = "ff9c0aa8d47685ed972414c67f1b7225e37ff85e"
_VIDEO = "video_hard/video0.mp4"  # 446,545 bytes

# The benchmark's own listing of video_easy: `git ls-tree -r <_COMMIT> src/env/data/video_easy`
# in github.com/nicklashansen/dmcontrol-generalization-benchmark. A git blob id is a content
# hash (SHA-1 of b"blob <size>\0" + content); our copy lacks video3, 4, 5 and 7.
_UPSTREAM_VIDEO_EASY = """\
100644 blob 395dfc08eabfe874a108b433c0d7703836c02e75	src/env/data/video_easy/video0.mp4
100644 blob 9a3ed0afe9ce6797ad6d0b2d677a39daaddb443f	src/env/data/video_easy/video1.mp4
100644 blob 428e34e4a633e4b031754c4be13c767df19a5273	src/env/data/video_easy/video2.mp4
100644 blob 7d45d4ccd267b16e5dce26dfab4a8b4226d21829	src/env/data/video_easy/video3.mp4
100644 blob 0e2a715197016e496fbefb7514c405d7bc17f26e	src/env/data/video_easy/video4.mp4
100644 blob f3fe1f241ab7049aa63f5f262e622d5b0088fa72	src/env/data/video_easy/video5.mp4
100644 blob 2754c85ac9fd0e9e38f3286c160850c586031042	src/env/data/video_easy/video6.mp4
100644 blob dae7c72381ece9a1a0ec7ad579d761b0384a3236	src/env/data/video_easy/video7.mp4
100644 blob 51a5f69e2bb267df29d141ecac3b2f2dadba79c8	src/env/data/video_easy/video8.mp4
100644 blob eb4f7fa46b0f2b8bc06fd24068433441b50dcc06	src/env/data/video_easy/video9.mp4
"""
_NOT_IN_OUR_COPY = [f"video_easy/video{i}.mp4" for i in (3, 4, 5, 7)]


def _upstream_blob_ids() -> dict[str, str]:
    """Asset path -> git blob id, from the upstream listing."""
    rows = (line.split() for line in _UPSTREAM_VIDEO_EASY.splitlines())
    return {path.removeprefix("src/env/data/"): blob for _, _, blob, path in rows}


def _git_hash_object(path: Path) -> str:
    """The blob id git itself computes for a file."""
    result = subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def server(shared_data: Path, monkeypatch: pytest.MonkeyPatch):
    """A mirror of the real files (DMCGB_MIRROR points at it)."""
    with FileServer(shared_data) as srv:
        monkeypatch.setenv("DMCGB_MIRROR", srv.url)
        yield srv


def _serve(root: Path, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    srv = FileServer(root).__enter__()
    monkeypatch.setenv("DMCGB_MIRROR", srv.url)
    return srv


# --- the manifest ------------------------------------------------------------------------


def test_manifest_pins_the_benchmark_files():
    assert data.VIDEO_COUNTS == {"video_easy": 10, "video_hard": 100}
    assert data.video_asset("video_hard", 3) == "video_hard/video3.mp4"
    assert len(data.GROUPS["all"]) == 2 + 10 + 100
    assert not any(name.startswith("places365") for name in data.GROUPS["all"])
    for name in data.GROUPS["all"]:
        asset = data.ASSETS[name]
        assert asset.path == name
        assert asset.url == (
            "https://raw.githubusercontent.com/nicklashansen/dmcontrol-generalization-benchmark/"
            f"{_COMMIT}/src/env/data/{name}"
        )
    by_blob_id = sorted(n for n in data.GROUPS["all"] if data.ASSETS[n].algorithm == "git-blob")
    assert by_blob_id == _NOT_IN_OUR_COPY  # every other file is pinned by its sha256
    for name in data.GROUPS["all"]:
        digest = data.ASSETS[name].digest
        assert len(digest) == (40 if name in by_blob_id else 64) and int(digest, 16) >= 0
    assert all(asset.digest for asset in data.ASSETS.values())  # nothing is left unchecked


def test_the_four_files_missing_here_are_pinned_to_the_upstream_trees_blob_ids():
    upstream = _upstream_blob_ids()
    for name in _NOT_IN_OUR_COPY:
        asset = data.ASSETS[name]
        assert (asset.algorithm, asset.digest) == ("git-blob", upstream[name])
        # The blob id fixes the size; no listing here states it, nor the frame count.
        assert asset.size is None and asset.frames is None


def test_the_upstream_listing_is_the_tree_our_real_files_come_from(shared_data: Path):
    """The listing the four pins come from gives, for the six files we have, exactly the blob
    ids git computes from our real copies (whose sha256 the manifest pins)."""
    upstream = _upstream_blob_ids()
    ours = sorted(p.relative_to(shared_data).as_posix() for p in shared_data.glob("video_easy/*"))
    assert ours == sorted(set(upstream) - set(_NOT_IN_OUR_COPY))
    for name in ours:
        assert _git_hash_object(shared_data / name) == upstream[name], name
        assert _sha256(shared_data / name) == data.ASSETS[name].digest


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) + 7])  # (1 << 20): hash_file's chunk
def test_git_blob_ids_are_what_git_computes(tmp_path: Path, size: int):
    path = tmp_path / "file"
    path.write_bytes(np.random.default_rng(size).bytes(size))
    assert digests.hash_file(path, digests.GIT_BLOB) == _git_hash_object(path)
    assert digests.hash_file(path, "sha256") == _sha256(path)


def test_manifest_matches_the_real_files(shared_data: Path):
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        assert data.ASSETS[path].digest == digest
        assert data.ASSETS[path].size == (shared_data / path).stat().st_size


def test_manifest_frame_counts_are_what_the_videos_hold(shared_data: Path):
    """Every video's frame count is what its container declares (the benchmark's n); two are
    also decoded to the end with OpenCV."""
    import cv2

    def declared(path: Path) -> int:
        capture = cv2.VideoCapture(str(path))
        try:
            return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()

    def decoded(path: Path) -> int:
        capture, count = cv2.VideoCapture(str(path)), 0
        while capture.read()[0]:
            count += 1
        capture.release()
        return count

    videos = [n for n in data.GROUPS["all"] if n.endswith(".mp4") and (shared_data / n).exists()]
    assert len(videos) == 106
    for name in videos:
        assert data.ASSETS[name].frames == declared(shared_data / name), name
    for name in ("video_easy/video2.mp4", "video_hard/video7.mp4"):
        assert data.ASSETS[name].frames == decoded(shared_data / name) > 400
    assert data.ASSETS["color_easy.pt"].frames is None


def test_places365_assets_use_the_published_md5():
    val, train = data.ASSETS["places365-val"], data.ASSETS["places365-train"]
    assert (val.algorithm, val.digest) == ("md5", "e27b17d8d44f4af9a78502beb927f808")
    assert (train.algorithm, train.digest) == ("md5", "53ca1c756c3d1e7809517cc47c5561c5")
    assert val.url == "http://data.csail.mit.edu/places/places365/val_256.tar"
    assert train.url == "http://data.csail.mit.edu/places/places365/train_256_places365standard.tar"
    assert val.path == "places365/val_256.tar"


@pytest.mark.parametrize(("mode", "index"), [("video_hard", 100), ("video_easy", -1), ("video", 0)])
def test_video_asset_refuses_bad_arguments(mode, index):
    with pytest.raises(ValueError, match="expected"):
        data.video_asset(mode, index)


def test_unknown_asset_suggests_a_name(cache):
    with pytest.raises(ValueError, match="did you mean 'video_hard'"):
        data.fetch(["video_hrad"])


def test_data_dir_default_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("DMCGB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.data_dir() == tmp_path / "xdg" / "dmcgb"
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "mine"))
    assert data.data_dir() == tmp_path / "mine"
    assert not (tmp_path / "mine").exists()  # asking where the cache is writes nothing


# --- downloads ---------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(cache, server, shared_data, capsys):
    paths = data.fetch([_VIDEO, "color_easy"], progress=True)
    assert paths == [cache / _VIDEO, cache / "color_easy.pt"]
    for path, name in zip(paths, [_VIDEO, "color_easy.pt"], strict=True):
        assert path.read_bytes() == (shared_data / name).read_bytes()
    assert "video0.mp4" in capsys.readouterr().err  # the progress bar ran
    assert [p.name for p in (cache / "video_hard").iterdir()] == ["video0.mp4"]  # nothing else
    served = len(server.requests)
    assert data.ensure(_VIDEO) == cache / _VIDEO
    assert len(server.requests) == served  # cached: not fetched again


def test_resume_from_partial_file(cache, server, shared_data):
    whole = (shared_data / _VIDEO).read_bytes()
    part = cache / (_VIDEO + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:100_000])
    path = data.ensure(_VIDEO, progress=False)
    assert server.requests == [("/" + _VIDEO, "bytes=100000-")]
    assert path.read_bytes() == whole
    assert not part.exists()


def test_restart_when_server_ignores_range(cache, server, shared_data):
    server.ignore_range = True
    part = cache / (_VIDEO + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes that are not the file" * 1000)
    path = data.ensure(_VIDEO, progress=False)
    assert server.requests[0][1] is not None  # it asked to resume, was answered 200
    assert path.read_bytes() == (shared_data / _VIDEO).read_bytes()


def test_checksum_mismatch_keeps_nothing(cache, shared_data, tmp_path, monkeypatch):
    served = tmp_path / "corrupt"
    served.mkdir()
    corrupt = bytearray((shared_data / "color_easy.pt").read_bytes())
    corrupt[1000] ^= 0xFF
    (served / "color_easy.pt").write_bytes(bytes(corrupt))
    srv = _serve(served, monkeypatch)
    try:
        with pytest.raises(ChecksumError) as info:
            data.ensure("color_easy.pt", progress=False)
    finally:
        srv.__exit__(None, None, None)
    message = str(info.value)
    assert "color_easy.pt" in message
    assert data.ASSETS["color_easy.pt"].digest in message
    assert hashlib.sha256(bytes(corrupt)).hexdigest() in message
    assert [p.name for p in cache.iterdir()] == [".locks"]


def test_http_404_names_url_and_status(cache, server):
    # video_easy/video3.mp4 exists upstream but not in the served copy.
    with pytest.raises(DownloadError) as info:
        data.ensure("video_easy/video3.mp4", progress=False)
    assert not isinstance(info.value, OfflineError)
    assert f"{server.url}/video_easy/video3.mp4" in str(info.value)
    assert "404" in str(info.value)


def test_hang_up_mid_file_is_retried_with_resume(cache, server, shared_data):
    server.hang_up_after, server.hang_ups_left = 50_000, 1
    path = data.ensure(_VIDEO, progress=False)
    assert path.read_bytes() == (shared_data / _VIDEO).read_bytes()
    assert [rng for _, rng in server.requests] == [None, "bytes=50000-"]


def test_server_that_keeps_hanging_up_leaves_a_partial_file_to_resume(cache, server, shared_data):
    server.hang_up_after, server.hang_ups_left = 50_000, 100
    with pytest.raises(DownloadError, match="partial file .* is kept"):
        data.ensure(_VIDEO, progress=False)
    part = cache / (_VIDEO + ".part")
    attempts = len(download.RETRY_DELAYS) + 1
    assert part.stat().st_size == attempts * 50_000
    assert not (cache / _VIDEO).exists()
    server.hang_ups_left = 0
    server.requests.clear()
    path = data.ensure(_VIDEO, progress=False)
    assert server.requests == [("/" + _VIDEO, f"bytes={attempts * 50_000}-")]
    assert path.read_bytes() == (shared_data / _VIDEO).read_bytes()


def test_parallel_workers_download_a_file_once(cache, server, shared_data):
    results, errors = [], []

    def worker():
        try:
            results.append(data.ensure("video_hard/video2.mp4", progress=False))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(server.requests) == 1
    assert results[0].read_bytes() == (shared_data / "video_hard/video2.mp4").read_bytes()


def _serve_as_video3(content: bytes, tmp_path: Path, monkeypatch) -> FileServer:
    """A mirror serving ``content`` as video_easy/video3.mp4 (a file pinned by its blob id)."""
    served = tmp_path / "served"
    (served / "video_easy").mkdir(parents=True)
    (served / "video_easy" / "video3.mp4").write_bytes(content)
    return _serve(served, monkeypatch)


def _pin_video3(blob_id: str, monkeypatch) -> None:
    """video3's manifest entry (a git-blob pin), with a blob id this test knows the file of."""
    asset = data.ASSETS["video_easy/video3.mp4"]
    assert asset.algorithm == "git-blob"
    monkeypatch.setitem(data.ASSETS, asset.name, dataclasses.replace(asset, digest=blob_id))


def test_a_file_pinned_by_its_blob_id_is_downloaded_checked_and_verified(
    cache, shared_data, tmp_path, monkeypatch
):
    source = shared_data / "video_easy" / "video0.mp4"  # a real video, served as video3
    _pin_video3(_git_hash_object(source), monkeypatch)
    content = source.read_bytes()
    srv = _serve_as_video3(content, tmp_path, monkeypatch)
    try:
        path = data.ensure("video_easy/video3.mp4", progress=False)
        assert path.read_bytes() == content
        ((name, verdict, detail),) = data.verify(["video_easy/video3.mp4"])
        assert (name, verdict) == ("video_easy/video3.mp4", "ok")
        assert detail == f"git-blob {_git_hash_object(source)}"
        assert sorted(p.name for p in path.parent.iterdir()) == ["video3.mp4"]  # nothing beside
        assert data.verified("video_easy/video3.mp4") == path  # checked on first use

        # A download resumed from a partial file is checked as a whole.
        path.unlink()
        (path.parent / "video3.mp4.part").write_bytes(content[:300_000])
        srv.requests.clear()
        assert data.ensure("video_easy/video3.mp4", progress=False).read_bytes() == content
        assert srv.requests == [("/video_easy/video3.mp4", "bytes=300000-")]
    finally:
        srv.__exit__(None, None, None)

    # A damaged file of the same size, found in the cache, is refused before it is used.
    damaged = bytearray(content)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(ChecksumError) as info:
        data.verified("video_easy/video3.mp4")
    message = str(info.value)
    assert "git-blob mismatch" in message and _git_hash_object(source) in message
    assert _git_hash_object(path) in message and "python -m dmcgb.data fetch video_easy" in message
    assert data.verify(["video_easy/video3.mp4"])[0][1] == "bad"


def test_a_damaged_download_of_a_file_pinned_by_its_blob_id_is_refused(
    cache, tmp_path, monkeypatch
):
    good = np.random.default_rng(3).bytes(200_000)
    (tmp_path / "good").write_bytes(good)
    _pin_video3(_git_hash_object(tmp_path / "good"), monkeypatch)
    damaged = bytearray(good)
    damaged[1000] ^= 0x01
    (tmp_path / "damaged").write_bytes(bytes(damaged))
    srv = _serve_as_video3(bytes(damaged), tmp_path, monkeypatch)
    try:
        with pytest.raises(ChecksumError) as info:
            data.ensure("video_easy/video3.mp4", progress=False)
    finally:
        srv.__exit__(None, None, None)
    message = str(info.value)
    assert "git-blob mismatch" in message and "the file was deleted" in message
    assert _git_hash_object(tmp_path / "good") in message
    assert _git_hash_object(tmp_path / "damaged") in message
    assert not (cache / "video_easy" / "video3.mp4").exists()
    assert not (cache / "video_easy" / "video3.mp4.part").exists()


def test_the_real_blob_id_pin_refuses_a_video_that_is_not_the_benchmarks_video3(
    cache, shared_data, tmp_path, monkeypatch
):
    """No test pin here: the manifest's own id for video3 refuses another real video."""
    stand_in = shared_data / "video_easy" / "video0.mp4"
    srv = _serve_as_video3(stand_in.read_bytes(), tmp_path, monkeypatch)
    try:
        with pytest.raises(ChecksumError) as info:
            data.ensure("video_easy/video3.mp4", progress=False)
    finally:
        srv.__exit__(None, None, None)
    message = str(info.value)
    assert _upstream_blob_ids()["video_easy/video3.mp4"] in message
    assert _git_hash_object(stand_in) in message
    assert not (cache / "video_easy" / "video3.mp4").exists()


# --- a cached file is checked once per process before it is used --------------------------


def test_verified_hashes_once_per_process_and_again_after_a_change(
    cache, server, shared_data, monkeypatch
):
    hashed = []
    real_hash = data.store.hash_file
    monkeypatch.setattr(data.store, "hash_file", lambda p, a: hashed.append(p) or real_hash(p, a))
    path = data.verified(_VIDEO)  # fetched, then checked
    assert data.verified(_VIDEO) == path
    assert hashed.count(path) == 1, "a second use in the same process is not re-hashed"
    # A same-size, damaged file (what a bad disk or a truncated copy looks like).
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2 :] = bytes(len(damaged) - len(damaged) // 2)
    path.write_bytes(bytes(damaged))
    with pytest.raises(ChecksumError) as info:
        data.verified(_VIDEO)
    message = str(info.value)
    assert str(path) in message and "python -m dmcgb.data fetch video_hard" in message
    assert _sha256(path) in message and data.ASSETS[_VIDEO].digest in message


def test_the_env_tests_stand_ins_are_refused_by_the_real_pins(env_data_dir, monkeypatch):
    """env_data_dir links video0 in as video3; only a test that expects the stand-ins reads
    it, and the real pin is back, and checked again, once that test ends."""
    from tests.conftest import expect_stand_ins

    monkeypatch.setenv("DMCGB_DATA_DIR", str(env_data_dir))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    monkeypatch.setattr(data.store, "_checked", {})
    video3 = "video_easy/video3.mp4"
    with pytest.raises(ChecksumError, match=_upstream_blob_ids()[video3]):
        data.verified(video3)
    with monkeypatch.context() as test:
        expect_stand_ins(test)
        path = data.verified(video3)
        assert _sha256(path) == data.ASSETS["video_easy/video0.mp4"].digest
    assert data.ASSETS[video3].digest == _upstream_blob_ids()[video3]
    with pytest.raises(ChecksumError, match="git-blob mismatch"):
        data.verified(video3)


# --- offline, read-only ------------------------------------------------------------------


def test_offline_mode_names_the_fetch_command(cache, server, monkeypatch):
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        data.ensure("video_hard/video5.mp4")
    assert isinstance(info.value, MissingData)
    message = str(info.value)
    assert "video_hard/video5.mp4" in message
    assert "python -m dmcgb.data fetch video_hard" in message
    assert "--mirror" in message
    assert server.requests == []
    assert not cache.exists()


def test_download_false_never_downloads(cache, server):
    with pytest.raises(OfflineError, match="does not allow downloads.*fetch places365-val"):
        data.places365_dir("val", download=False)
    with pytest.raises(OfflineError, match="fetch color_easy"):
        data.ensure("color_easy.pt", download=False)
    assert server.requests == []
    assert not cache.exists()


def test_refused_connection_is_offline(cache, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DMCGB_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(OfflineError, match="python -m dmcgb.data fetch color_hard"):
        data.ensure("color_hard.pt", progress=False)
    assert not (cache / "color_hard.pt").exists()


def test_ensure_on_populated_read_only_dir_writes_nothing(shared_data, server, monkeypatch):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(shared_data))
    monkeypatch.delenv("DMCGB_OFFLINE", raising=False)
    before = _snapshot(shared_data)
    for name in ["color_easy.pt", "color_hard.pt", _VIDEO, "video_easy/video9.mp4"]:
        assert data.ensure(name) == shared_data / name
    assert len(data.load_colors("color_hard")) == 100
    assert _snapshot(shared_data) == before
    assert server.requests == []


# --- colours -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["color_easy", "color_hard"])
def test_load_colors_parses_the_real_files(dmcgb_data, mode):
    settings = data.load_colors(mode)
    assert len(settings) == 100
    for setting in settings:
        assert sorted(setting) == ["grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb"]
        for value in setting.values():
            assert value.shape == (3,) and value.dtype == np.float64
            assert np.all((value >= 0) & (value <= 1))


def test_load_colors_first_settings(dmcgb_data):
    easy, hard = data.load_colors("color_easy"), data.load_colors("color_hard")
    np.testing.assert_allclose(easy[0]["grid_rgb1"], [0.109165, 0.11903745, 0.18573619])
    np.testing.assert_allclose(hard[0]["self_rgb"], [0.71527551, 0.27514659, 0.25032992])
    with pytest.raises(ValueError, match="colour mode"):
        data.load_colors("color_medium")


def _legacy_torch_file(obj) -> bytes:
    """The legacy torch.save layout: magic, protocol, system info, object, storage keys."""
    parts = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}, obj, []]
    return b"".join(pickle.dumps(part, protocol=2) for part in parts)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(_legacy_torch_file([_Exploit(marker)]))
    zipped = tmp_path / "zipped.pt"
    with zipfile.ZipFile(zipped, "w") as archive_file:
        archive_file.writestr("archive/data.pkl", pickle.dumps([_Exploit(marker)]))
    for path in (legacy, zipped):
        with pytest.raises(
            pickle.UnpicklingError, match=r"refusing to load global (posix|os)\.system"
        ):
            colors.parse_colors(path)
    assert not marker.exists()


def test_malicious_file_in_cache_is_refused_before_parsing(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    marker = tmp_path / "pwned"
    cache.mkdir()
    payload = _legacy_torch_file([_Exploit(marker)])
    # Padded to the real file's size, so the cache takes it for the real file.
    size = data.ASSETS["color_easy.pt"].size
    (cache / "color_easy.pt").write_bytes(payload + b"\0" * (size - len(payload)))
    with pytest.raises(ChecksumError, match="color_easy.pt"):
        data.load_colors("color_easy")
    assert not marker.exists()


def _setting(**overrides):
    setting = {key: np.full(3, 0.5) for key in colors.COLOR_KEYS}
    setting.update(overrides)
    return setting


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ([_setting()] * 99, "list of 100"),
        ([_setting(self_rgb=np.full(4, 0.5))] * 100, "self_rgb"),
        ([_setting(grid_rgb1=np.full(3, 1.5))] * 100, "grid_rgb1"),
        ([{"grid_rgb1": np.zeros(3)}] * 100, "expected keys"),
    ],
)
def test_parse_colors_validates_content(tmp_path, settings, problem):
    path = tmp_path / "colors.pt"
    path.write_bytes(_legacy_torch_file(settings))
    with pytest.raises(ValueError, match=problem):
        colors.parse_colors(path)


def test_parse_colors_reads_the_zip_format(tmp_path, shared_data):
    torch = pytest.importorskip("torch")
    settings = colors.parse_colors(shared_data / "color_easy.pt")
    path = tmp_path / "new_format.pt"
    torch.save(settings, path)
    assert zipfile.is_zipfile(path)
    again = colors.parse_colors(path)
    for old, new in zip(settings, again, strict=True):
        assert all(np.array_equal(old[key], new[key]) for key in colors.COLOR_KEYS)


# --- tar archives ------------------------------------------------------------------------


def _make_tar(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """members: (kind, name, payload) with kind "file" (bytes), "symlink" or "hardlink" (target)."""
    with tarfile.open(path, "w") as tar:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = payload
            tar.addfile(info)
    return path


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([("file", "../evil", b"x")], "climbs out"),
        ([("file", "ok/../../evil", b"x")], "climbs out"),
        ([("file", "/tmp/dmcgb-evil", b"x")], "absolute path"),
        ([("symlink", "val_256/link", "../../outside")], "symlink"),
        ([("symlink", "val_256/link", "/etc/passwd")], "symlink"),
        ([("file", "val_256/a", b"x"), ("hardlink", "val_256/b", "../../etc/passwd")], "hard link"),
        # Each path is fine alone; through the link the file would land outside.
        ([("symlink", "val_256/up", ".."), ("file", "val_256/up/../escape", b"x")], None),
    ],
)
def test_tar_escaping_destination_is_refused(tmp_path, members, reason):
    tar = _make_tar(tmp_path / "bad.tar", members)
    dest = tmp_path / "out" / "val"
    with pytest.raises(UnsafeArchive, match=reason or "refusing to extract"):
        archive.extract(tar, dest)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []  # the staging folder is gone too
    assert not (tmp_path / "escape").exists() and not (tmp_path / "evil").exists()


def test_good_tar_extracts_atomically(tmp_path):
    tar = _make_tar(
        tmp_path / "good.tar",
        [("file", "val_256/a.jpg", b"aaa"), ("file", "val_256/sub/b.jpg", b"bb"),
         ("symlink", "val_256/c.jpg", "a.jpg")],
    )  # fmt: skip
    dest = archive.extract(tmp_path / "good.tar", tmp_path / "out" / "val", require="val_256")
    assert (dest / "val_256" / "a.jpg").read_bytes() == b"aaa"
    assert (dest / "val_256" / "sub" / "b.jpg").read_bytes() == b"bb"
    assert (dest / "val_256" / "c.jpg").read_bytes() == b"aaa"
    assert archive.is_extracted(dest) and archive.read_marker(dest)["members"] == 3
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["val"]
    tar.unlink()
    assert archive.extract(tar, dest) == dest  # complete: the archive is not needed again


def test_places365_dir_fetches_and_extracts(cache, tmp_path, monkeypatch):
    served = tmp_path / "served"
    (served / "places365").mkdir(parents=True)
    images = [("file", f"val_256/Places365_val_{i:08d}.jpg", os.urandom(500)) for i in range(1, 4)]
    tar = _make_tar(served / "places365" / "val_256.tar", images)
    md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    asset = dataclasses.replace(data.ASSETS["places365-val"], digest=md5)
    monkeypatch.setitem(data.ASSETS, "places365-val", asset)
    srv = _serve(served, monkeypatch)
    try:
        folder = data.places365_dir("val")
        assert folder == cache / "places365" / "val" / "val_256"
        assert sorted(p.name for p in folder.iterdir()) == [Path(n).name for _, n, _ in images]
        assert not (cache / "places365" / "val_256.tar").exists()  # extracted: archive removed
        assert data.places365_dir("val") == folder
        assert len(srv.requests) == 1
    finally:
        srv.__exit__(None, None, None)
    assert data.verify(["places365-val"])[0][:2] == ("places365-val", "ok")
    assert data.status(["places365-val"])[0].state == "extracted"


def test_places365_archive_with_wrong_md5_is_not_extracted(cache, tmp_path, monkeypatch):
    served = tmp_path / "served"
    (served / "places365").mkdir(parents=True)
    _make_tar(served / "places365" / "val_256.tar", [("file", "val_256/x.jpg", b"x")])
    srv = _serve(served, monkeypatch)
    try:
        with pytest.raises(ChecksumError, match="e27b17d8d44f4af9a78502beb927f808"):
            data.places365_dir("val")
    finally:
        srv.__exit__(None, None, None)
    assert not (cache / "places365" / "val").exists()


# --- command line ------------------------------------------------------------------------


def test_cli_fetch_list_verify(cache, server, shared_data, capsys):
    url, root = server.url, str(cache)
    assert (
        data.main(["--data-dir", root, "--mirror", url, "fetch", "color_hard", "--no-progress"])
        == 0
    )
    assert (cache / "color_hard.pt").read_bytes() == (shared_data / "color_hard.pt").read_bytes()
    capsys.readouterr()

    assert data.main(["list", "--data-dir", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[0] == "color_hard.pt" and line.endswith("cached") for line in lines)
    assert any(line.split()[0] == "color_easy.pt" and line.endswith("missing") for line in lines)
    assert "1 of 115 cached" in lines  # 112 DMControl-GB files, 2 Places365, DAVIS

    assert data.main(["verify", "--data-dir", root]) == 0
    assert "1 ok, 0 bad" in capsys.readouterr().out.splitlines()
    (cache / "color_hard.pt").write_bytes(b"\0" * 44658)  # same size, wrong content
    assert data.main(["verify", "--data-dir", root]) == 1
    assert "bad" in capsys.readouterr().out


def test_cli_fetch_group_reports_missing_files(cache, server, capsys):
    assert data.main(["fetch", "video_easy", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "4 of 10 failed" in captured.err and "404" in captured.err
    assert len(list((cache / "video_easy").glob("*.mp4"))) == 6


def test_cli_unknown_name(cache, capsys):
    assert data.main(["fetch", "places365_val"]) == 2
    assert "did you mean 'places365-val'" in capsys.readouterr().err


def test_cli_runs_as_module():
    result = subprocess.run(
        [sys.executable, "-m", "dmcgb.data", "fetch", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert "places365-val" in result.stdout and "--mirror" in result.stdout
