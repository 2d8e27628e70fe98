"""An output table written a chunk at a time: each chunk becomes a part file in a hidden
folder beside the output (renamed into place when complete), and `finish` joins the parts
into the output under a temporary name and renames it. So memory holds one chunk, a killed
run leaves nothing under the output's name, and a run started again with `resume=True`
keeps the parts already written, provided it reads the same input the same way.

>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> from tfbert.chunked_output import ChunkedOutput
>>> path = Path(tempfile.mkdtemp()) / "out.csv"
>>> output = ChunkedOutput(path, {"input": "rows.csv"})
>>> for index in range(3):
...     output.write(index, pd.DataFrame({"id": [index]}))
>>> output.finish(3).read_text().split()
['id', '0', '1', '2']
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from tfbert import atomic
from tfbert.errors import TfbertError

MANIFEST = "manifest.json"  # what the parts were written from; --resume must match it
WRITERS: dict[str, Callable[[pd.DataFrame, Path, bool], None]] = {
    ".csv": lambda frame, path, first: frame.to_csv(path, index=False, header=first),
    ".tsv": lambda frame, path, first: frame.to_csv(path, sep="\t", index=False, header=first),
    ".jsonl": lambda frame, path, first: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    ".json": lambda frame, path, first: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    ".parquet": lambda frame, path, first: frame.to_parquet(path, index=False),
}


def writer_for(path: Path) -> Callable[[pd.DataFrame, Path, bool], None]:
    """The part writer of `path`'s format, chosen by its extension."""
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise TfbertError(f"cannot write {path}: use one of {', '.join(WRITERS)}")
    return writer


def parts_folder(path: Path) -> Path:
    """Where the parts of `path` wait: a hidden folder beside it."""
    return path.parent / f".{path.name}.parts"


class ChunkedOutput:
    """The output at `path`, written chunk by chunk. `identity` says what the chunks are made
    from (input, its size and time, chunk size, columns, model): with `resume`, parts written
    by a run with the same identity are kept, and another identity is refused; without it,
    leftover parts are removed and the output starts over."""

    def __init__(self, path: str | Path, identity: dict[str, Any], resume: bool = False):
        self.path = Path(path)
        self.writer = writer_for(self.path)
        self.parts = parts_folder(self.path)
        manifest = self.parts / MANIFEST
        if resume and manifest.is_file():
            started = json.loads(manifest.read_text(encoding="utf-8"))
            if started != identity:
                changed = sorted(key for key in identity.keys() | started.keys() if identity.get(key) != started.get(key))
                raise TfbertError(f"the unfinished {self.path} was started from other settings ({', '.join(changed)} "
                                  "changed); run again without --resume to start over")
            return
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True)
        atomic.write_text(manifest, json.dumps(identity, indent=2) + "\n")

    def part(self, index: int) -> Path:
        return self.parts / f"part-{index:06d}{self.path.suffix.lower()}"

    def done(self, index: int) -> bool:
        """Whether chunk `index` was written completely (by this run or the one resumed)."""
        return self.part(index).is_file()

    def write(self, index: int, frame: pd.DataFrame) -> None:
        """Chunk `index` as its part file, staged then renamed (a CSV's header goes in part 0)."""
        with atomic.staged(self.part(index), keep_suffix=True) as staging:
            self.writer(frame, staging, index == 0)

    def finish(self, count: int) -> Path:
        """Parts 0..count-1 joined into the output, renamed into place; the parts removed."""
        missing = [index for index in range(count) if not self.done(index)]
        if missing:
            raise TfbertError(f"{self.parts} lacks part {missing[0]}; run again without --resume to start over")
        with atomic.staged(self.path, keep_suffix=True) as staging:
            if self.path.suffix.lower() == ".parquet":
                _join_parquet([self.part(index) for index in range(count)], staging)
            else:
                _join_text([self.part(index) for index in range(count)], staging)
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.path


def _join_text(parts: list[Path], target: Path) -> None:
    """CSV, TSV and JSON Lines parts, byte for byte, each ending its last line."""
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
                if handle.tell() and (handle.seek(-1, 2), handle.read(1))[1] != b"\n":
                    out.write(b"\n")


def _join_parquet(parts: list[Path], target: Path) -> None:
    """Parquet parts as the row groups of one file, their schemas unified (a column that is
    integer in one chunk and float in another, say, becomes float), one part in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(part).remove_metadata() for part in parts]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    with pq.ParquetWriter(target, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).replace_schema_metadata(None).select(schema.names).cast(schema))
