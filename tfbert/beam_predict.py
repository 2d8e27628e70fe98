"""Predict labels for a corpus of shards on Apache Beam, with a run's serving export.

    python -m tfbert.beam_predict --model EXPORT --input PATTERN --output PREFIX [--text-column text]
                                  [--pair-column C] [--format parquet|csv] [--batch-size N]
                                  [--chunk-rows N] [Beam pipeline options]

--input is a file or a glob (data/part-*.csv, gs://bucket/tickets/*.parquet) of CSV, TSV,
JSON Lines or Parquet shards; --model a run directory or its export/ folder, local or on a
file system Beam reads (gs://, hdfs://, s3://). Each worker loads the export once and scores
its rows through RunInference (`tfbert.beam.ExportModelHandler`); the output is
PREFIX-SSSSS-of-NNNNN.parquet (or .csv) shards with the input's columns, predicted_label and
one probability_<label> column per label, in no particular row order: carry an id column.
Every other option goes to Beam: --runner (DirectRunner by default; DataflowRunner,
FlinkRunner, SparkRunner) and that runner's own. It needs `pip install -e ".[beam]"`.
"""

from __future__ import annotations

import sys
from typing import Sequence

from tfbert import progress
from tfbert.errors import ArgumentParser, run_command

BATCH_SIZE = 256  # tfbert.predictor.DEFAULT_BATCH_SIZE, without loading TensorFlow for --help
CHUNK_ROWS = 10_000  # tfbert.beam.DEFAULT_CHUNK_ROWS, without loading Beam for --help


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.beam_predict", description=__doc__.split("\n")[0],
                            epilog="Other options are Beam's pipeline options, e.g. --runner DataflowRunner "
                                   "--project P --region R --temp_location gs://B/tmp, or "
                                   "--direct_running_mode multi_processing --direct_num_workers 2.")
    parser.add_argument("--model", required=True, help="a run directory or its export/ folder (local, gs://, hdfs://, ...)")
    parser.add_argument("--input", required=True, help="a file or glob of CSV, TSV, JSON Lines or Parquet shards")
    parser.add_argument("--output", required=True, help="the output shards' prefix: PREFIX-SSSSS-of-NNNNN.<format>")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--pair-column", default=None, help="second segment, for models trained on text pairs")
    parser.add_argument("--format", default="parquet", choices=("parquet", "csv"), help="the output shards' format")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows a worker scores at a time, at most")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows a shard's reader hands on at a time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, pipeline_args = make_parser().parse_known_args(argv)
    from tfbert import beam  # Beam and TensorFlow load only once the arguments are read

    if progress.verbosity() != progress.VERBOSE:
        pipeline_args = beam.quiet_logs(pipeline_args)

    shards = beam.score_files(args.model, args.input, args.output, args.text_column, args.pair_column, args.format,
                              args.batch_size, args.chunk_rows, pipeline_args)
    print(f"tfbert: wrote {len(shards)} shard{'s' if len(shards) != 1 else ''}: {args.output}-*{beam.FORMATS[args.format]}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
