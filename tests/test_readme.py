"""The README is the front door: its config table and commands must stay true."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tfbert.config import KEYS

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _table_rows() -> dict[str, str]:
    """key -> default, from the README's config reference table."""
    return dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", README, flags=re.MULTILINE))


def test_config_table_lists_every_key_with_its_default():
    rows = _table_rows()
    assert set(rows) == {key.name for key in KEYS}
    for key in KEYS:
        assert yaml.safe_load(rows[key.name]) == key.default, key.name


def test_ci_finds_the_install_and_test_commands():
    """.ci/run reads these lines: the install, the whole suite (the first pytest line), the quick loop."""
    assert re.search(r"^pip install -e \"\.\[dev\]\"$", README, flags=re.MULTILINE)
    commands = re.findall(r"^python -m pytest.*$", README, flags=re.MULTILINE)
    assert commands[:2] == ["python -m pytest -q -n 2 --dist loadscope", 'python -m pytest -q -m "not slow"']


def test_every_config_in_configs_is_documented_and_valid():
    from tfbert.config import load_config

    for path in (Path(__file__).parents[1] / "configs").glob("*.yaml"):
        if path.name != "sweep.yaml":  # a W&B sweep definition; tested in test_tracking
            load_config(path)
        assert f"configs/{path.name}" in README, path.name


def test_the_run_directory_table_lists_every_file_a_run_writes():
    from conftest import RUN_FILES

    section = README.split("## The run directory")[1].split("\n## ")[0]
    listed = {name.rstrip("/") for name in re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)}
    assert set(RUN_FILES) <= listed
    # evaluations/: written later, by python -m tfbert.evaluate; tensorboard/: only with tensorboard: true
    assert listed - set(RUN_FILES) == {"evaluations", "tensorboard"}
