"""The runs in an output_dir: list them, finished or not, and clean away the unfinished ones.

    python -m tfbert.runs list [--output_dir runs]
    python -m tfbert.runs clean [--output_dir runs] [--yes]

A run trains in a hidden staging folder (output_dir/.NAME.incomplete, see run_directory)
that is renamed to output_dir/NAME when it finishes, so a run that was killed leaves its
staging folder behind: `list` says where each such run stopped (it can still be resumed:
`python -m tfbert.train ... --resume`) and `clean` removes them, never a finished run.
A run that is training right now is unfinished too: do not clean while one trains.

>>> import tempfile, pathlib
>>> from tfbert import runs
>>> output_dir = pathlib.Path(tempfile.mkdtemp())
>>> (output_dir / "demo-1").mkdir(); _ = (output_dir / "demo-1" / "config.yaml").write_text("epochs: 1\\n")
>>> (output_dir / ".demo-2.incomplete").mkdir()
>>> [(run.name, run.finished) for run in runs.list_runs(output_dir)]
[('demo-1', True), ('demo-2', False)]
>>> [path.name for path in runs.clean(output_dir)], [run.name for run in runs.list_runs(output_dir)]
(['.demo-2.incomplete'], ['demo-1'])
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from tfbert.errors import ArgumentParser, TfbertError, run_command
from tfbert.run_directory import final_path_of, is_staging_folder, is_unfinished, saved_config

NOT_RUNS = ("wandb",)  # folders of output_dir that hold other things (W&B's local files)
SHOWN_METRICS = ("accuracy", "f1", "loss")  # of metrics.json's validation entry, in a listing
_MAX_DEPTH = 3  # how deep run names may nest (run_name: sweeps/lr-3e-5)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One run in an output_dir: where it is, whether it finished, and what it got to."""

    name: str  # its run_name (its path under output_dir)
    path: Path  # its folder: the run directory, or the staging folder of an unfinished run
    finished: bool
    status: str  # finished: its validation metrics; unfinished: where it stopped
    size_bytes: int
    modified: float  # the newest file's modification time (seconds since the epoch)

    def line(self) -> str:
        """The record as `list` prints it: name, state, status, size and last modified."""
        state = "finished" if self.finished else "unfinished"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.modified))
        return f"{self.name}  {state}  {self.status}  {human_size(self.size_bytes)}  {when}"


def human_size(size_bytes: int) -> str:
    """`size_bytes` in B, kB, MB, GB or TB, as `du -h` would round it.

    >>> from tfbert.runs import human_size
    >>> human_size(512), human_size(1536), human_size(3 * 1024 ** 3)
    ('512 B', '1.5 kB', '3.0 GB')
    """
    if size_bytes < 1024:
        return f"{size_bytes} B"
    size = float(size_bytes)
    for unit in "kMGT":
        size /= 1024
        if size < 1024 or unit == "T":
            break
    return f"{size:.1f} {unit}B"


def _files(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def _size_and_modified(folder: Path) -> tuple[int, float]:
    stats = [path.stat() for path in _files(folder)]
    size = sum(stat.st_size for stat in stats)
    return size, max((stat.st_mtime for stat in stats), default=folder.stat().st_mtime)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def validation_summary(run_dir: Path) -> str:
    """A finished run's validation metrics from its metrics.json ('validation: accuracy=0.8000 ...')."""
    validation = _read_json(run_dir / "metrics.json").get("validation")
    if not isinstance(validation, dict):
        return "no validation metrics"
    shown = [f"{name}={validation[name]:.4f}" for name in SHOWN_METRICS
             if isinstance(validation.get(name), (int, float))]
    return "validation: " + (" ".join(shown) or "no metrics")


def _steps_per_epoch(staging: Path, config: dict[str, Any]) -> int | None:
    """The training steps per epoch of a killed run, as job.Job counts them, when its
    data_stats.json and config.yaml say (they are written before training starts)."""
    examples = _read_json(staging / "data_stats.json").get("train", {}).get("num_examples")
    batch = config.get("train_batch_size")
    if isinstance(examples, int) and isinstance(batch, int) and batch > 0:
        return math.ceil(examples / batch)
    return None


def stopped_at(staging: Path) -> str:
    """Where the unfinished run in `staging` stopped: the point its next resume starts
    from ('stopped in epoch 3/5 after step 140/300'), read from its backup."""
    from tfbert import resume

    backup = staging / resume.BACKUP
    if not (staging / "config.yaml").is_file():
        return "stopped before it started training"
    config = saved_config(staging) or {}
    steps = _steps_per_epoch(staging, config)
    point = resume.resume_point(backup, steps or sys.maxsize)
    if point is None:
        return "stopped after training, before the final evaluation"
    epoch, step = point
    epochs = f"/{config['epochs']}" if isinstance(config.get("epochs"), int) else ""
    if (epoch, step) == (0, 0):
        return "stopped before its first backup"
    if step == 0:
        return f"stopped after epoch {epoch}{epochs}"
    of_steps = f"/{steps}" if steps else ""
    return f"stopped in epoch {epoch + 1}{epochs} after step {step}{of_steps}"


def _record(output_dir: Path, folder: Path, finished: bool) -> RunRecord:
    final = folder if finished else final_path_of(folder)
    size, modified = _size_and_modified(folder)
    status = validation_summary(folder) if finished else stopped_at(folder)
    return RunRecord(final.relative_to(output_dir).as_posix(), folder, finished, status, size, modified)


def _run_folders(output_dir: Path, folder: Path, depth: int = 0) -> Iterator[tuple[Path, bool]]:
    """(folder, finished) of every run under `folder`: finished runs hold config.yaml;
    staging folders are unfinished runs; other folders may hold runs of nested names."""
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or path.is_symlink():
            continue
        if is_unfinished(path):
            yield path, False
        elif (path / "config.yaml").is_file():
            yield path, True
        elif depth < _MAX_DEPTH and not path.name.startswith(".") and path.name not in NOT_RUNS:
            yield from _run_folders(output_dir, path, depth + 1)


def _existing(output_dir: str | Path) -> Path:
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise TfbertError(f"output_dir {output_dir} is not a folder; give the folder your runs are in: --output_dir DIR")
    return output_dir


def list_runs(output_dir: str | Path = "runs") -> list[RunRecord]:
    """The runs in `output_dir`, finished and unfinished, oldest first (by last modification)."""
    output_dir = _existing(output_dir)
    records = [_record(output_dir, folder, finished) for folder, finished in _run_folders(output_dir, output_dir)]
    return sorted(records, key=lambda record: (record.modified, record.name))


def unfinished_folders(output_dir: str | Path = "runs") -> list[Path]:
    """The staging folders of the unfinished runs in `output_dir`."""
    output_dir = _existing(output_dir)
    return [folder for folder, finished in _run_folders(output_dir, output_dir) if not finished]


def remove_unfinished(folders: Sequence[Path]) -> list[Path]:
    """Remove these staging folders; anything else (a finished run) is refused, not removed."""
    for folder in folders:
        if not is_staging_folder(folder):
            raise TfbertError(f"{folder} is not an unfinished run's staging folder; it is not removed")
    for folder in folders:
        shutil.rmtree(folder)
    return list(folders)


def clean(output_dir: str | Path = "runs") -> list[Path]:
    """Remove the staging folders of the unfinished runs in `output_dir` (never a finished
    run); returns the folders removed."""
    return remove_unfinished(unfinished_folders(output_dir))


def _confirmed(unfinished: Sequence[RunRecord], yes: bool) -> bool:
    """--yes, or the person at the terminal answers y to the question."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise TfbertError("clean removes runs and asks first, but stdin is not a terminal; pass --yes to remove them")
    size = human_size(sum(record.size_bytes for record in unfinished))
    answer = input(f"remove {len(unfinished)} unfinished run{'s' if len(unfinished) != 1 else ''} ({size})? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.runs", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,clean}")
    for name, help in (("list", "one line per run: name, finished or not, where it stopped or its validation "
                                "metrics, size on disk, last modified"),
                       ("clean", "remove the unfinished runs (their staging folders), after asking")):
        command = commands.add_parser(name, help=help, description=help)
        command.add_argument("--output_dir", default="runs", help="the folder holding the runs (default: runs)")
        if name == "clean":
            command.add_argument("--yes", action="store_true", help="do not ask")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command == "list":
        records = list_runs(args.output_dir)
        for record in records:
            print(record.line())
        if not records:
            print(f"no runs in {args.output_dir}")
        return 0
    unfinished = [record for record in list_runs(args.output_dir) if not record.finished]
    if not unfinished:
        print(f"no unfinished runs in {args.output_dir}")
        return 0
    for record in unfinished:
        print(record.line())
    if not _confirmed(unfinished, args.yes):
        print("nothing removed")
        return 0
    for path in remove_unfinished([record.path for record in unfinished]):
        print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
