"""The training command: fine-tune a BERT encoder on a labelled file and write a run directory.

    python -m tfbert.train [--config configs/tiny.yaml] [--resume [RUN_DIR]] [--key=value | --key value ...]

Without --config every key comes from the command line, over the package's defaults:

    python -m tfbert.train --data_path=reviews.csv --text_column=review --label_column=sentiment --encoder=all-minilm-l6-v2

A thin layer over `tfbert.training.train` (in Python: `tfbert.train`).
"""

from __future__ import annotations

import sys
from typing import Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import scoring, training
from tfbert.config import Config, from_command_line
from tfbert.encoders import PRETRAINED
from tfbert.errors import ArgumentParser, TfbertError, run_command

# What a run cannot do without, and how to give it on the command line.
ESSENTIALS = {
    "data_path": "--data_path=FILE (.csv, .tsv, .jsonl, .parquet) or a named set such as --data_path=toy-sentiment",
    "encoder": f"--encoder={PRETRAINED[0]} (or tiny, hf:DIR, a TF Hub-format directory or handle)",
}


def require_essentials(config: Config, config_file: str | None) -> None:
    """Refuse a config without data_path or encoder, saying which --key to pass (or set)."""
    for key, how in ESSENTIALS.items():
        if getattr(config, key) is None:
            where = f"; or set {key} in {config_file}" if config_file else ""
            raise TfbertError(f"no {key}: pass {how}{where}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m tfbert.train", description=__doc__.split("\n")[0],
                            epilog="Any config key can be given or overridden: --learning_rate=3e-5 or --learning_rate 3e-5; "
                                   "without --config, every key comes from the command line.")
    parser.add_argument("--config", default=None, help="YAML config file (see configs/); optional")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                        help="resume a killed run: the latest unfinished run of this config (or data file) in "
                             "output_dir, or the one in RUN_DIR (a run with an explicit run_name resumes without this flag)")
    args, overrides = parser.parse_known_args(argv)
    config = from_command_line(args.config, overrides)
    require_essentials(config, args.config)
    result = training.train(config, resume_run=args.resume)
    if not result.chief:
        print(f"training done; the chief writes the run directory: {result.run_dir}")
        return 0
    print(f"run directory: {result.run_dir}")
    for title, values in result.metrics.items():
        print(scoring.format_metrics(title, values))
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
