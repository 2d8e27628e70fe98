"""The README is the front door: the commands CI reads from it, the configs it names, and
its links into the docs must stay true (the docs themselves: test_docs)."""

from __future__ import annotations

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_finds_the_install_and_test_commands():
    """.ci/run reads these lines: the install, the whole suite (the first pytest line), the quick loop."""
    assert re.search(r"^pip install -e \"\.\[dev\]\"$", README, flags=re.MULTILINE)
    commands = re.findall(r"^python -m pytest.*$", README, flags=re.MULTILINE)
    assert commands[:2] == ["python -m pytest -q -n 3 --dist loadscope", 'python -m pytest -q -m "not slow"']


def test_every_config_in_configs_is_named_and_valid():
    from tfbert.config import load_config

    for path in (ROOT / "configs").glob("*.yaml"):
        if path.name != "sweep.yaml":  # a W&B sweep definition; tested in test_tracking
            load_config(path)
        assert f"configs/{path.name}" in README, path.name


def test_the_readme_stays_short_and_its_links_resolve():
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) > 10
    for link in local:
        assert (ROOT / link).exists(), link
    assert {"docs/getting-started.md", "docs/reference/config.md", "docs/benchmarks.md", "CHANGELOG.md"} <= set(local)
