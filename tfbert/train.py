"""The training command: fine-tune a BERT encoder on a labelled file and write a run directory.

    python -m tfbert.train --config configs/tiny.yaml [--resume [RUN_DIR]] [--key=value | --key value ...]

A thin layer over `tfbert.training.train` (in Python: `tfbert.train`).
"""

from __future__ import annotations

import sys
from typing import Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import scoring, training
from tfbert.config import from_command_line
from tfbert.errors import ArgumentParser, run_command


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m tfbert.train", description=__doc__.split("\n")[0],
                            epilog="Any config key can be overridden: --learning_rate=3e-5 or --learning_rate 3e-5.")
    parser.add_argument("--config", required=True, help="YAML config file (see configs/)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                        help="resume a killed run: the latest unfinished run of this config in output_dir, or the one in "
                             "RUN_DIR (a run with an explicit run_name resumes without this flag)")
    args, overrides = parser.parse_known_args(argv)
    result = training.train(from_command_line(args.config, overrides), resume_run=args.resume)
    if not result.chief:
        print(f"training done; the chief writes the run directory: {result.run_dir}")
        return 0
    print(f"run directory: {result.run_dir}")
    for title, values in result.metrics.items():
        print(scoring.format_metrics(title, values))
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
