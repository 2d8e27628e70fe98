"""The docs site (docs/, built by mkdocs) stays true: its generated reference pages are
current, every command a page shows either runs here or says why it cannot (the network
or a GPU), and every config key, flag and repository file a page names exists."""

from __future__ import annotations

import functools
import importlib
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
# What a command block may need that the suite does not give it: <!-- needs: KIND: why -->
# right above the block. "ci" blocks are the test commands .ci/run itself runs.
NEEDS = ("network", "gpu", "ci")
NEEDS_MARK = re.compile(r"<!-- needs: (\w+): ([^>]{10,}) -->\s*$")


@functools.cache
def reference_pages():
    spec = importlib.util.spec_from_file_location("reference_pages", DOCS / "reference_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def command_parsers() -> dict:
    """Each command's parser (tfbert.errors.ArgumentParser), by module: the commands the reference page lists."""
    return {name: importlib.import_module(f"tfbert.{name}").make_parser() for name in reference_pages().COMMANDS}


@functools.cache
def beam_pipeline_flags() -> set[str]:
    """Beam's pipeline options (--runner, --project, ...), which python -m tfbert.beam_predict passes on to Beam."""
    from apache_beam.options.pipeline_options import PipelineOptions

    return {f"--{name}" for name in PipelineOptions([]).get_all_options()}


def fenced_blocks(page: Path) -> list[tuple[str, str, str | None]]:
    """(language, body, what the needs mark above it says it needs, or None) of each fenced block of `page`."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        before = text[: match.start()].rstrip("\n").splitlines()
        mark = NEEDS_MARK.search(before[-1]) if before else None
        blocks.append((match.group(1), match.group(2), mark.group(1) if mark else None))
    return blocks


def command_lines(body: str) -> list[str]:
    """The commands of a shell block: comments dropped, continued lines joined."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def shell_blocks() -> list[tuple[Path, str, str | None]]:
    return [(page, body, needs) for page in PAGES for language, body, needs in fenced_blocks(page)
            if language in ("bash", "sh")]


def test_the_generated_reference_pages_are_current():
    pages = reference_pages()
    for name, make in pages.PAGES.items():
        assert (DOCS / name).read_text(encoding="utf-8") == make(), f"docs/{name} is stale: run python docs/reference_pages.py"


def test_every_shell_block_runs_here_or_says_what_it_needs():
    for page, body, needs in shell_blocks():
        assert needs is None or needs in NEEDS, f"{page.relative_to(ROOT)}: needs {needs!r} is none of {NEEDS}"
    runnable = [(page, body) for page, body, needs in shell_blocks() if needs is None]
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
        assert module in command_parsers(), f"{page.relative_to(ROOT)}: python -m tfbert.{module}"
        parser = command_parsers()[module]
        known, subcommands = parser.options(), parser.subcommands()
        if module == "beam_predict":
            known |= beam_pipeline_flags()
        for word in arguments:
            if word.startswith("--"):
                name = word[2:].split("=")[0]
                assert f"--{name}" in known or name in KEYS_BY_NAME, f"{page.relative_to(ROOT)}: {module} {word}"
            elif word in subcommands:
                known |= subcommands[word].options()


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
    for page, body, needs in shell_blocks():
        if needs is not None:
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
    parsers = [sub for parser in command_parsers().values() for sub in (parser, *parser.subcommands().values())]
    flags = {option.lstrip("-") for parser in parsers for option in parser.options() | beam_pipeline_flags()}
    named = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r"`--([\w-]+)(?:[= ][^`\n]*)?`", text) + re.findall(r"`(\w+): [^`\n]+`", text):
            named += 1
            assert name in KEYS_BY_NAME or name in flags or name in FOREIGN, f"{page.relative_to(ROOT)}: {name}"
    assert named > 50
