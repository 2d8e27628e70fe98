"""The evaluation command: re-score a finished run on a new labelled file.

    python -m tfbert.evaluate --model RUN_DIR --data FILE [--output DIR] [--text_column=C ...]

--model may also be a W&B model artifact reference (entity/project/name:alias): it is
downloaded (wandb.Api) and evaluated as the run directory it holds; give --output, or the
report goes into the downloaded folder.

A thin layer over `tfbert.evaluation.evaluate` (in Python: `tfbert.evaluate`): the run's
serving export scores the file, and the training run's report files go to a new folder
(default RUN_DIR/evaluations/<file name>).
"""

from __future__ import annotations

from typing import Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import evaluation, scoring
from tfbert.config import parse_overrides
from tfbert.errors import ArgumentParser, exit_process, run_command


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.evaluate", description=__doc__.split("\n")[0],
                            epilog=f"Also --key=value for any of: {', '.join(evaluation.EVALUATION_KEYS)} "
                                   "(e.g. --text_column=review when the new file names its columns differently).")
    parser.add_argument("--model", required=True,
                        help="a run directory written by python -m tfbert.train, or a W&B model artifact "
                             "(entity/project/name:alias)")
    parser.add_argument("--data", required=True, help="labelled CSV, TSV, JSON Lines or Parquet file")
    parser.add_argument("--output", default=None, help="folder for the report (default RUN_DIR/evaluations/<file name>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, overrides = make_parser().parse_known_args(argv)
    result = evaluation.evaluate(args.model, args.data, args.output, **parse_overrides(overrides))
    print(f"report: {result.folder}")
    print(scoring.format_metrics(evaluation.REPORT_TITLE, result.metrics))
    return 0


if __name__ == "__main__":
    exit_process(run_command(main))
