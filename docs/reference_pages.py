"""The reference pages generated from the code: every config key from `tfbert.config.KEYS`
(reference/config.md) and every command's --help from its argument parser
(reference/commands.md). Run after changing a key or a flag; tests/test_docs.py fails
while a committed page differs from what this writes:

    python docs/reference_pages.py
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's tfbert, when run as a script

from tfbert.config import KEY_GROUPS, KEYS, shown  # noqa: E402

CONFIG_INTRO = """\
# Config keys

A config is one flat YAML file (see `configs/`), or none at all: every key can also be
given on the command line as `--key=value` or `--key value`, over the file's value (see
[Your own data](../guides/your-data.md#your-own-csv)); `python -m tfbert.train --help`
lists them too. In Python, `tfbert.load_config(path, **keys)` and
`tfbert.train(path, **keys)` take them as keyword arguments.

Unknown keys are an error that names the closest valid key; values of the wrong type or
range are an error naming the key and, for a key of a file, the file and line:
`config key 'epochs' must be >= 1, got 0 (configs/x.yaml, line 7)`. Config files are read
with YAML 1.2's booleans: only `true` and `false` are booleans, so
`distribution_strategy: off` is the name `off` (true/false keys also take yes, no, on,
off), and a date such as `run_name: 2026-12-01` stays text. What YAML accepts but a config
writer most likely did not mean is refused with its line: a key given twice, YAML 1.1's
base-60 and octal numbers (`epochs: 1:30` would be 90, `seed: 010` would be 8; quote them
to mean text), a list or mapping under a key that takes one value, keys that are not
names, tabs, and anchors, aliases, merge keys and tags. An empty file is fine: the
defaults.

This page is generated from `tfbert.config.KEYS` by `docs/reference_pages.py`.
"""

# Where each group of keys is explained at length: the page's title and path.
GUIDES = {
    "Data": ("Your own data", "../guides/your-data.md"),
    "Encoder and features": ("Encoders", "../guides/encoders.md"),
    "Model and optimisation": ("Precision and speed", "../guides/precision-and-speed.md"),
    "Distribution": ("Going past one machine", "../guides/scaling-out.md"),
    "Output": ("The run directory", "run-directory.md"),
    "Weights & Biases": ("Weights & Biases and sweeps", "../guides/wandb-and-sweeps.md"),
}

COMMANDS = ("train", "evaluate", "predict", "beam_predict", "runs", "encoders", "assets")


def config_page() -> str:
    """reference/config.md: the keys by group, each with its default and help text."""
    lines = [CONFIG_INTRO]
    for key in KEYS:
        if key.name in KEY_GROUPS:
            title = KEY_GROUPS[key.name]
            guide, link = GUIDES[title]
            lines += ["", f"## {title}", "", f"See also [{guide}]({link}).", "",
                      "| key | default | meaning |", "|---|---|---|"]
        meaning = key.help + (f" Must be {key.rule}." if key.rule else "")
        lines.append(f"| `{key.name}` | `{shown(key.default)}` | {meaning.replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"


def command_help(name: str) -> str:
    """`python -m tfbert.<name> --help`, and each subcommand's, as argparse prints them."""
    parser = importlib.import_module(f"tfbert.{name}").make_parser()
    return "\n".join([parser.format_help(), *(sub.format_help() for sub in parser.subcommands().values())])


def commands_page() -> str:
    """reference/commands.md: every command's --help."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same page everywhere
    lines = ["# Commands", "",
             "Each command is `python -m tfbert.<command>`; each takes `--quiet` and `--verbose`, answers a "
             "mistake with one line `tfbert: error: ...` and exit status 2, and prints what follows for "
             "`--help`. This page is generated from the commands' argument parsers by `docs/reference_pages.py`."]
    for name in COMMANDS:
        lines += ["", f"## {name}", "", "```text", command_help(name).rstrip(), "```"]
    return "\n".join(lines) + "\n"


PAGES = {"reference/config.md": config_page, "reference/commands.md": commands_page}


def main() -> None:
    for name, make in PAGES.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
