"""The DAVIS 2017 asset: manifest facts, fetch + safe zip extraction from a local HTTP server.

The server serves a small archive this test builds in the real archive's layout (generated
images); its hash replaces the real one in the manifest for the duration of a test.
"""

from __future__ import annotations

import dataclasses
import stat
import zipfile
from pathlib import Path

import pytest

from dmcgb import data
from dmcgb.data import archive
from dmcgb.errors import ChecksumError, OfflineError, UnsafeArchive
from tests.dmcgb.davis_layout import ARCHIVE as _ARCHIVE
from tests.dmcgb.davis_layout import publish_davis, write_davis, zip_folder
from tests.dmcgb.http_server import FileServer


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A mirror serving a generated DAVIS archive; the manifest expects its hash and size."""
    mirror = tmp_path / "mirror"
    davis = write_davis(tmp_path / "source", train=["bear", "bmx-bumps"], val=["blackswan"])
    zipped = publish_davis(davis, mirror, monkeypatch)
    with FileServer(mirror) as server:
        monkeypatch.setenv("DMCGB_MIRROR", server.url)
        yield server, zipped


def test_manifest_pins_the_davis_archive():
    asset = data.ASSETS["davis"]
    assert asset.url == f"https://data.vision.ee.ethz.ch/csergi/share/davis/{_ARCHIVE}"
    # TensorFlow Datasets' checksums.tsv for that URL (the DAVIS authors publish none).
    assert asset.size == 832766765
    assert asset.algorithm == "sha256"
    assert asset.digest == "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492"
    assert asset.path == f"davis/{_ARCHIVE}"
    assert (asset.extract_dir, asset.content_dir) == ("davis/trainval-480p", "DAVIS")
    assert data.GROUPS["davis"] == ("davis",)
    assert "davis" not in data.GROUPS["all"]


def test_cli_fetches_verifies_and_extracts(cache, served, capsys):
    server, _ = served
    assert data.main(["fetch", "davis", "--no-progress"]) == 0
    assert "ok  davis" in capsys.readouterr().out
    folder = cache / "davis" / "trainval-480p" / "DAVIS"
    frames = sorted(p.name for p in (folder / "JPEGImages" / "480p" / "bmx-bumps").iterdir())
    assert frames == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert (folder / "ImageSets" / "2017" / "val.txt").read_text() == "blackswan\n"
    assert not (cache / "davis" / _ARCHIVE).exists()  # extracted: the archive is removed
    assert (
        archive.read_marker(cache / "davis" / "trainval-480p")["digest"]
        == data.ASSETS["davis"].digest
    )
    assert data.status(["davis"])[0].state == "extracted"
    assert data.verify(["davis"])[0][:2] == ("davis", "ok")
    requests_before = len(server.requests)
    assert data.davis_dir(download=False) == folder  # cached: nothing fetched again
    assert len(server.requests) == requests_before


def test_interrupted_download_resumes(cache, served):
    server, zipped = served
    server.hang_up_after, server.hang_ups_left = zipped.stat().st_size // 3, 1
    folder = data.davis_dir()
    assert (folder / "JPEGImages" / "480p" / "bear" / "00000.jpg").is_file()
    ranges = [r for path, r in server.requests if path.endswith(_ARCHIVE)]
    assert ranges[0] is None and ranges[1] == f"bytes={zipped.stat().st_size // 3}-"


def test_archive_with_another_hash_is_not_extracted(cache, served, monkeypatch):
    asset = dataclasses.replace(data.ASSETS["davis"], digest="0" * 64)
    monkeypatch.setitem(data.ASSETS, "davis", asset)
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        data.davis_dir()
    assert not (cache / "davis" / "trainval-480p").exists()
    assert not (cache / "davis" / _ARCHIVE).exists()


def test_offline_names_the_fetch_command(cache, monkeypatch):
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="python -m dmcgb.data fetch davis"):
        data.davis_dir()


def _zip_with(path: Path, name: str, mode: int = stat.S_IFREG | 0o644) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("DAVIS/README.md", "fine\n")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zipped.writestr(info, "/etc/passwd" if stat.S_ISLNK(mode) else "evil\n")
    return path


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("../evil", stat.S_IFREG | 0o644, "climbs out"),
        ("DAVIS/../../evil", stat.S_IFREG | 0o644, "climbs out"),
        ("..\\evil", stat.S_IFREG | 0o644, "climbs out"),
        ("/tmp/dmcgb-evil", stat.S_IFREG | 0o644, "absolute path"),
        ("DAVIS/link", stat.S_IFLNK | 0o777, "symbolic link"),
        ("DAVIS/fifo", stat.S_IFIFO | 0o644, "device, fifo"),
    ],
)
def test_unsafe_zip_is_refused_whole(tmp_path, name, mode, reason):
    zipped = _zip_with(tmp_path / "bad.zip", name, mode)
    dest = tmp_path / "out" / "davis"
    with pytest.raises(UnsafeArchive, match=reason):
        archive.extract(zipped, dest, require="DAVIS")
    assert not dest.exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no staging left
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()


def test_safe_zip_extracts_atomically(tmp_path):
    davis = write_davis(tmp_path / "source", train=["bear"], frames=2)
    zipped = zip_folder(davis, tmp_path / "good.zip")
    dest = archive.extract(zipped, tmp_path / "out" / "davis", require="DAVIS")
    image = dest / "DAVIS" / "JPEGImages" / "480p" / "bear" / "00001.jpg"
    assert image.read_bytes() == (davis / "JPEGImages" / "480p" / "bear" / "00001.jpg").read_bytes()
    assert archive.read_marker(dest)["members"] == len(zipfile.ZipFile(zipped).infolist())


def test_truncated_zip_is_a_download_error(tmp_path):
    davis = write_davis(tmp_path / "source", train=["bear"], frames=2)
    zipped = zip_folder(davis, tmp_path / "good.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(zipped.read_bytes()[:-200])  # the central directory is gone
    with pytest.raises(Exception, match="not a readable"):
        archive.extract(cut, tmp_path / "out" / "davis")
    assert not (tmp_path / "out" / "davis").exists()
