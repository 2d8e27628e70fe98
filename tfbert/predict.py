"""Predict labels for a file of texts with a run's serving export.

    python -m tfbert.predict --model RUN --input FILE [--text-column text] [--pair-column C] [--output FILE]
                             [--batch-size N] [--chunk-rows N] [--resume]

--model is a run directory, its export/ folder, the folder of a downloaded W&B model
artifact, or a W&B model artifact reference (entity/project/name:alias), downloaded first.
Reads CSV, TSV, JSON Lines or Parquet (or one text per line from stdin with --input -)
--chunk-rows rows at a time, runs the export's serving signature (tokenization inside, the
run's decision threshold) through `tfbert.Predictor` in batches, and writes each chunk's
rows plus `predicted_label` and one `probability_<label>` column per label, in --output's
format (CSV to stdout without it), so memory does not grow with the file. The output file
appears only once complete; a run that was killed continues after its last finished chunk
with --resume (see `tfbert.file_predictions`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import export, file_predictions, progress
from tfbert.chunked_output import writer_for
from tfbert.data.chunks import TableChunks
from tfbert.predictor import DEFAULT_BATCH_SIZE, Predictor
from tfbert.errors import ArgumentParser, TfbertError, exit_process, run_command


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        help="a run directory, its export/ folder, or a W&B model artifact (entity/project/name:alias)")
    parser.add_argument("--input", default="-", help="CSV, TSV, JSON Lines or Parquet file; - reads lines from stdin")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--pair-column", default=None, help="second segment, for models trained on text pairs")
    parser.add_argument("--output", default=None, help="output file (.csv, .tsv, .jsonl, .parquet); default: CSV on stdout")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--chunk-rows", type=int, default=file_predictions.DEFAULT_CHUNK_ROWS,
                        help="rows read, scored and written at a time: memory holds one chunk")
    parser.add_argument("--resume", action="store_true",
                        help="continue an --output a killed run left unfinished, after its last finished chunk")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.batch_size < 1:
        raise TfbertError("--batch-size must be at least 1")
    if args.resume and not args.output:
        raise TfbertError("--resume continues an --output file; standard output cannot be resumed")

    directory = export.find_export(args.model)  # a wrong --model, --output or --input fails before the model loads
    if args.output:
        writer_for(Path(args.output))
    TableChunks(args.input, args.chunk_rows)
    predictor = Predictor.load(directory, args.batch_size)
    progress.note(f"the export computes in {predictor.precision}")
    if args.output:
        file_predictions.predict_file(predictor, args.input, args.output, args.text_column, args.pair_column,
                                      args.chunk_rows, args.resume)
    else:
        file_predictions.predict_to_stream(predictor, args.input, sys.stdout, args.text_column, args.pair_column,
                                           args.chunk_rows)
    return 0


if __name__ == "__main__":
    exit_process(run_command(main))
