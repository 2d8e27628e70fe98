"""The training command: fine-tune a BERT encoder on a labelled file and write a run directory.

    python -m tfbert.train [--config configs/tiny.yaml] [--resume [RUN_DIR]] [--key=value | --key value ...]

Without --config every key comes from the command line, over the package's defaults:

    python -m tfbert.train --data_path=reviews.csv --text_column=review --label_column=sentiment --encoder=all-minilm-l6-v2

A thin layer over `tfbert.training.train` (in Python: `tfbert.train`). The arguments and
the config are read before TensorFlow loads, so `--help` and a mistyped key answer at once.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Sequence

from tfbert.assets import PRETRAINED
from tfbert.config import KEY_GROUPS, KEYS, Config, from_command_line, shown
from tfbert.errors import ArgumentParser, TfbertError, exit_process, run_command

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


def keys_help(width: int) -> str:
    """Every config key as --help lists it: the option, its kind, its help text and its default (from KEYS)."""
    column = 28
    lines = ["config keys (--key=value or --key value; each overrides the --config file's value):"]
    for key in KEYS:
        if key.name in KEY_GROUPS:
            lines += ["", f" {KEY_GROUPS[key.name]}:"]
        option = f"  --{key.name} {key.kind.upper()}"
        body = textwrap.wrap(f"{key.help} (default: {shown(key.default)})", max(width - column, 30),
                             break_long_words=False, break_on_hyphens=False)
        if len(option) >= column:  # a long option gets a line of its own, as argparse does
            lines.append(option)
        else:
            lines.append(option.ljust(column) + body.pop(0))
        lines += [" " * column + line for line in body]
    return "\n".join(lines)


def make_parser() -> ArgumentParser:
    width = min(shutil.get_terminal_size().columns, 120) - 2  # argparse's width (the terminal's, less 2), capped
    parser = ArgumentParser(prog="python -m tfbert.train", description=__doc__.split("\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=keys_help(width))
    parser.add_argument("--config", default=None, help="YAML config file (see configs/); optional")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                        help="resume a killed run: the latest unfinished run of this config (or data file) in "
                             "output_dir, or the one in RUN_DIR (a run with an explicit run_name resumes without this flag)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, overrides = make_parser().parse_known_args(argv)
    config = from_command_line(args.config, overrides)
    require_essentials(config, args.config)
    from tfbert import scoring, training  # TensorFlow loads here, once the command line is known to be good

    result = training.train(config, resume_run=args.resume)
    if not result.chief:
        print(f"training done; the chief writes the run directory: {result.run_dir}")
        return 0
    print(f"run directory: {result.run_dir}")
    for title, values in result.metrics.items():
        print(scoring.format_metrics(title, values))
    return 0


if __name__ == "__main__":
    exit_process(run_command(main))
