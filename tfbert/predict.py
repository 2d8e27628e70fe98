"""Predict labels for a file of texts with a run's serving export.

    python -m tfbert.predict --model RUN --input FILE [--text-column text] [--pair-column C] [--output FILE] [--batch-size N]

--model is a run directory, its export/ folder, the folder of a downloaded W&B model
artifact, or a W&B model artifact reference (entity/project/name:alias), downloaded first.
Reads CSV, TSV, JSON Lines or Parquet (or one text per line from stdin with --input -),
runs the export's serving signature (tokenization inside, the run's decision threshold)
through `tfbert.Predictor` in batches with a progress bar, and writes the input rows plus
`predicted_label` and one `probability_<label>` column per label, in --output's format
(CSV to stdout without it), staged and renamed: a failed run leaves no half-written output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import atomic, export
from tfbert.data.tables import read_table, require_columns
from tfbert.predictor import DEFAULT_BATCH_SIZE, Predictor
from tfbert.errors import ArgumentParser, TfbertError, run_command

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".tsv": lambda frame, path: frame.to_csv(path, sep="\t", index=False),
    ".jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    ".json": lambda frame, path: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
}


def read_inputs(source: str, text_column: str, pair_column: str | None) -> pd.DataFrame:
    """The rows to predict: a data file, or stdin's non-empty lines as a `text_column` column."""
    if source == "-":
        lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not lines:
            raise TfbertError("no texts on standard input")
        return pd.DataFrame({text_column: lines})
    frame = read_table(source)
    require_columns(frame, {"--text-column": text_column, "--pair-column": pair_column}, source,
                    "{source} has no column '{column}'; its columns are {listed}; use --text-column")
    return frame


def writer_for(path: Path) -> Callable[[pd.DataFrame, str], None]:
    """The writer of `path`'s format, chosen by its extension."""
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise TfbertError(f"cannot write {path}: use one of {', '.join(WRITERS)}")
    return writer


def write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """`frame` written to `path` in the format of its extension, under a temporary name
    then renamed, so a failed write leaves any earlier file at `path` as it was."""
    writer = writer_for(path)
    with atomic.staged(path, keep_suffix=True) as staging:  # the writer reads the format from the suffix
        writer(frame, str(staging))


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        help="a run directory, its export/ folder, or a W&B model artifact (entity/project/name:alias)")
    parser.add_argument("--input", default="-", help="CSV, TSV, JSON Lines or Parquet file; - reads lines from stdin")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--pair-column", default=None, help="second segment, for models trained on text pairs")
    parser.add_argument("--output", default=None, help="output file (.csv, .tsv, .jsonl, .parquet); default: CSV on stdout")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.batch_size < 1:
        raise TfbertError("--batch-size must be at least 1")

    directory = export.find_export(args.model)  # a wrong --model or --output fails before the input is read
    if args.output:
        writer_for(Path(args.output))
    frame = read_inputs(args.input, args.text_column, args.pair_column)
    predictor = Predictor.load(directory, args.batch_size)
    if predictor.takes_pairs and args.pair_column is None:
        raise TfbertError("this model was trained on text pairs; give the second segment with --pair-column")
    result = predictor.annotate(frame, args.text_column, args.pair_column)
    if args.output:
        write_atomically(result, Path(args.output))
    else:
        result.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
