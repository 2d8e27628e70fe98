"""The docs site (docs/, built by mkdocs) stays true: its generated reference pages are
current, every command a page shows either runs here or says why it cannot (the network
or a GPU), and every config key, flag and repository file a page names exists."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tfbert.config import KEYS_BY_NAME

from conftest import ROOT, RUN_FILES

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
COMMAND_MODULES = ("train", "evaluate", "predict", "runs", "encoders", "assets")
# What a command block may need that the suite does not give it: <!-- needs: KIND: why -->
# right above the block. "ci" blocks are the test commands .ci/run itself runs.
NEEDS = ("network", "gpu", "ci")
NEEDS_MARK = re.compile(r"<!-- needs: (\w+): ([^>]{10,}) -->\s*$")


def reference_pages():
    spec = importlib.util.spec_from_file_location("reference_pages", DOCS / "reference_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fenced_blocks(page: Path) -> list[tuple[str, str, str | None]]:
    """(language, body, the needs mark above it or None) of each fenced block of `page`."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        before = text[: match.start()].rstrip("\n").splitlines()
        mark = NEEDS_MARK.search(before[-1]) if before else None
        blocks.append((match.group(1), match.group(2), mark.group(0) if mark else None))
    return blocks


def command_lines(body: str) -> list[str]:
    """The commands of a shell block: comments dropped, continued lines joined."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def shell_blocks() -> list[tuple[Path, str, str | None]]:
    return [(page, body, mark) for page in PAGES for language, body, mark in fenced_blocks(page)
            if language in ("bash", "sh")]


def test_the_generated_reference_pages_are_current():
    pages = reference_pages()
    for name, make in pages.PAGES.items():
        assert (DOCS / name).read_text(encoding="utf-8") == make(), f"docs/{name} is stale: run python docs/reference_pages.py"


def test_every_shell_block_runs_here_or_says_what_it_needs():
    for page, body, mark in shell_blocks():
        if mark is None:
            continue
        kind = NEEDS_MARK.search(mark).group(1)
        assert kind in NEEDS, f"{page.relative_to(ROOT)}: needs {kind!r} is none of {NEEDS}"
    runnable = [(page, body) for page, body, mark in shell_blocks() if mark is None]
    assert runnable, "no block of the docs runs here"
    for page, body in runnable:
        assert any(line.startswith("python -m tfbert.") for line in command_lines(body)), \
            f"{page.relative_to(ROOT)}: a block that runs here must run tfbert: {body!r}"


def tfbert_commands() -> list[tuple[Path, str, list[str]]]:
    """(page, module, arguments) of every `python -m tfbert.<module> ...` in a shell block."""
    found = []
    for page, body, _ in shell_blocks():
        for line in command_lines(body):
            words = shlex.split(line.split("|")[-1])
            words = words[next((i for i, w in enumerate(words) if w == "python"), 0):]
            if words[:2] == ["python", "-m"] and words[2].startswith("tfbert."):
                found.append((page, words[2].removeprefix("tfbert."), words[3:]))
    return found


def test_every_command_flag_and_config_key_a_page_shows_exists():
    commands = tfbert_commands()
    assert len(commands) > 10
    for page, module, arguments in commands:
        assert module in COMMAND_MODULES, f"{page.relative_to(ROOT)}: python -m tfbert.{module}"
        parser = importlib.import_module(f"tfbert.{module}").make_parser()
        known = {option for action in parser._actions for option in action.option_strings}
        subcommands = {name for action in parser._actions for name in (getattr(action, "choices", None) or {})}
        for word in arguments:
            if word.startswith("--"):
                name = word[2:].split("=")[0]
                assert f"--{name}" in known or name in KEYS_BY_NAME, f"{page.relative_to(ROOT)}: {module} {word}"
            elif word in subcommands:
                known |= {option for action in parser._actions if getattr(action, "choices", None)
                          for option in (action.choices[word]._option_string_actions)}


def test_every_config_key_in_a_yaml_block_exists():
    for page in PAGES:
        for language, body, _ in fenced_blocks(page):
            if language != "yaml":
                continue
            data = yaml.safe_load(body)
            keys = data.get("parameters", {}) if isinstance(data, dict) and "method" in data else data
            for key in keys or {}:
                assert key in KEYS_BY_NAME, f"{page.relative_to(ROOT)}: config key {key!r}"


def test_every_repository_file_a_page_names_exists():
    prefixes = ("configs/", "notebooks/", "benchmarks/", "tfbert/", "tests/", ".ci/", "docs/")
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r"`((?:" + "|".join(map(re.escape, prefixes)) + r")[\w./-]+)`", text):
            assert (ROOT / name.rstrip("/")).exists(), f"{page.relative_to(ROOT)}: {name}"


def test_the_run_directory_page_lists_every_file_a_run_writes():
    page = (DOCS / "reference" / "run-directory.md").read_text(encoding="utf-8")
    listed = {name.rstrip("/") for name in re.findall(r"^\| `([^`]+)` \|", page, flags=re.MULTILINE)}
    assert set(RUN_FILES) <= listed
    # evaluations/: written later, by python -m tfbert.evaluate; tensorboard/: only with tensorboard: true
    assert listed - set(RUN_FILES) == {"evaluations", "tensorboard"}


@pytest.mark.slow
def test_the_blocks_that_run_here_run(tmp_path, tiny_encoder):
    """Each block without a needs mark, run as a user would, from a folder holding the configs."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    for page, body, mark in shell_blocks():
        if mark is not None:
            continue
        done = subprocess.run(["bash", "-e", "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{page.relative_to(ROOT)}:\n{body}\n{done.stderr[-3000:]}"


# Names in inline code that look like config keys or flags but belong to someone else.
FOREIGN = {
    "key": "the placeholder of --key=value",
    "max_train_samples": "Hugging Face run_glue.py's flag, compared with max_train_examples",
    "job_type": "a W&B run's job type",
    "min_iter": "W&B sweeps' hyperband setting",
    "steps_per_execution": "Keras compile's argument",
    "tfbert": "the prefix of tfbert's own messages (tfbert: error: ...)",
}


def test_every_key_and_flag_named_in_a_pages_text_exists():
    """Inline `--name`, `--name=value` and `name: value` in the pages' text: config keys or
    flags of tfbert's commands, unless FOREIGN says whose they are."""
    flags = {option.lstrip("-") for module in COMMAND_MODULES
             for parser in [importlib.import_module(f"tfbert.{module}").make_parser()]
             for action in parser._actions for option in action.option_strings}
    flags |= {option.lstrip("-") for module in COMMAND_MODULES
              for action in importlib.import_module(f"tfbert.{module}").make_parser()._actions
              for sub in (getattr(action, "choices", None) or {}).values() if hasattr(sub, "_actions")
              for sub_action in sub._actions for option in sub_action.option_strings}
    named = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r"`--([\w-]+)(?:[= ][^`\n]*)?`", text) + re.findall(r"`(\w+): [^`\n]+`", text):
            named += 1
            assert name in KEYS_BY_NAME or name in flags or name in FOREIGN, f"{page.relative_to(ROOT)}: {name}"
    assert named > 50
