"""Reading back what an offline W&B run recorded, from its .wandb transaction log; and a small tracked config.

Usage: `logged = LoggedRun(run_dir)` (an `offline-run-*` folder), then `logged.config`, `logged.history`,
`logged.summary`, `logged.artifacts`.
"""

from __future__ import annotations

import json
import shutil
import struct
import time
from pathlib import Path

import tfbert  # noqa: F401
from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2 as pb

from tfbert.config import build_config

from conftest import reviews

BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of 7-byte-headed chunks


def read_wandb_log(path: Path) -> list[pb.Record]:
    """Every record of a .wandb transaction log (header ':W&B', magic 0xBEE1, version 0)."""
    raw = path.read_bytes()
    assert raw[:4] == b":W&B" and struct.unpack("<H", raw[4:6])[0] == 0xBEE1
    position, records, pending = 7, [], b""
    while position + 7 <= len(raw):
        left = BLOCK - position % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", raw[position:position + 7])
        chunk = raw[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 1:  # a whole record
            records.append(chunk)
        elif kind == 2:  # first chunk
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            records.append(pending + chunk)
        else:
            break
    return [pb.Record.FromString(record) for record in records]


def finished_log(run_dir: Path, timeout: float = 60.0) -> list[pb.Record]:
    """The records of an offline run's log once it holds the run's exit record: W&B's
    service writes the log on its own, and may still be at it when finish() returns."""
    deadline = time.monotonic() + timeout
    while True:
        (log,) = run_dir.glob("run-*.wandb")
        try:
            records = read_wandb_log(log)
        except DecodeError:  # a record the service is still writing
            if time.monotonic() > deadline:
                raise
            records = []
        if any(record.WhichOneof("record_type") == "exit" for record in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


class LoggedRun:
    """What an offline W&B run recorded: config, history rows, summary, artifacts."""

    def __init__(self, run_dir: Path):
        self.config, self.history, self.summary, self.artifacts = {}, [], {}, []
        self.job_type = self.group = self.run_id = None
        for record in finished_log(run_dir):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                self.job_type, self.group, self.run_id = record.run.job_type, record.run.run_group, record.run.run_id
            if kind in ("run", "config"):  # the run record holds wandb.init's config, later records updates
                updates = record.run.config.update if kind == "run" else record.config.update
                self.config.update({item.key: json.loads(item.value_json) for item in updates})
            elif kind == "history":
                self.history.append(_items(record.history.item))
            elif kind == "summary":
                self.summary.update(_items(record.summary.update))
            elif kind == "artifact":
                self.artifacts.append(record.artifact)


def _items(items) -> dict:
    """History or summary items as a dict; a logged object (a table) arrives as nested keys."""
    values = {}
    for item in items:
        value = json.loads(item.value_json)
        rest = "/".join(part for part in item.nested_key[1:] if part)
        if item.key or not rest:
            values[item.key or item.nested_key[0]] = value
        else:
            values.setdefault(item.nested_key[0], {})[rest] = value
    return values


def sentiment_csv(path: Path, rows: int = 120) -> Path:
    reviews(rows).to_csv(path, index=False)
    return path


def tracked_config(tmp_path: Path, tiny_encoder: str, **changes) -> object:
    values = dict(data_path=str(sentiment_csv(tmp_path / "data.csv")), encoder=tiny_encoder, max_seq_length=16,
                  learning_rate=1e-3, dropout=0.1, epochs=2, train_split=0.75, train_batch_size=16,
                  output_dir=str(tmp_path / "runs"), run_name="run", wandb_mode="offline")
    return build_config({**values, **changes}, name="tracked")


def artifact_folder(artifact: pb.ArtifactRecord, folder: Path) -> Path:
    """An offline run's artifact as `wandb.Api().artifact(ref).download()` would lay it out:
    offline, W&B keeps each file in its staging folder (the manifest's local_path)."""
    for entry in artifact.manifest.contents:
        (folder / entry.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.local_path, folder / entry.path)
    return folder
