"""Atomic outputs: a file or folder is written under a temporary name beside its final
path and renamed into place only when complete, so a crash, a kill or a full disk never
leaves something half-written under the name a later step trusts.

>>> import tempfile, pathlib
>>> from tfbert.atomic import staged
>>> target = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
>>> with staged(target) as temporary:
...     _ = temporary.write_text("{}")
...     target.exists()
False
>>> target.read_text()
'{}'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator


def temporary_name(path: str | Path, keep_suffix: bool = False) -> Path:
    """A hidden, unique sibling of `path` (same folder, so the final rename is atomic);
    with `keep_suffix` it ends in `path`'s suffix too, for writers that pick their format
    or compression from the name (pandas' to_csv, to_parquet).

    >>> from tfbert.atomic import temporary_name
    >>> temporary_name("out/predictions.csv.gz", keep_suffix=True).name  # doctest: +ELLIPSIS
    '.predictions.csv.gz....tmp.gz'
    """
    path = Path(path)
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix if keep_suffix else ''}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def staged(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yields a temporary path to write a file or folder at (ending in `path`'s suffix
    with `keep_suffix`); on success it replaces `path` (an existing folder there is
    replaced too), on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path, keep_suffix)
    try:
        yield temporary
        if path.is_dir() and temporary.is_dir():
            old = temporary_name(path)
            os.replace(path, old)  # a folder cannot replace a non-empty folder in one rename
            os.replace(temporary, path)
            _remove(old)
        else:
            os.replace(temporary, path)
    finally:
        _remove(temporary)


def write_text(path: str | Path, text: str) -> Path:
    """`text` written to `path` atomically (UTF-8)."""
    with staged(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)
