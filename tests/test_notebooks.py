"""The notebooks run top to bottom, headless, in smoke mode; they are committed without
outputs, install tfbert the way Colab needs, and re-implement nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tfbert

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
SMOKE_SECONDS = 180  # each notebook's smoke run, on 2 cores


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_both_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == ["01_quickstart.ipynb", "02_sweeps.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    notebook = read(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    assert "widgets" not in notebook.metadata


def run_install_cell(source: str, monkeypatch, in_colab: bool) -> list[tuple[list[str], dict]]:
    """Execute the install cell with subprocess.run recorded instead of run; returns its calls."""
    calls = []

    def record(args, **kwargs):
        calls.append((list(args), kwargs))
        if kwargs.get("check"):
            raise subprocess.CalledProcessError(1, args)  # as pip failing would

    monkeypatch.setattr(subprocess, "run", record)
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    try:
        exec(compile(source, "install cell", "exec"), {})
    except subprocess.CalledProcessError:
        calls.append((["failed"], {}))
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_and_install_cell(path, monkeypatch):
    """A badge to this notebook at the release the install cell pins; the install runs only
    in Colab, upgrades nothing (no -U), fails the cell when pip fails, and sets
    TF_USE_LEGACY_KERAS before anything imports TensorFlow."""
    notebook = read(path)
    ref = f"v{tfbert.__version__}"
    badge = re.search(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/notebooks/([\w.]+)",
                      notebook.cells[0].source)
    assert badge and badge.group(2) == ref and badge.group(3) == path.name
    install = notebook.cells[1].source
    assert "import tensorflow" not in install and "import tfbert" not in install

    assert run_install_cell(install, monkeypatch, in_colab=False) == []
    (pip, options), failed = run_install_cell(install, monkeypatch, in_colab=True)
    assert pip == [sys.executable, "-m", "pip", "install", "--quiet",
                   f"tfbert @ git+https://github.com/{badge.group(1)}@{ref}"]
    assert options == {"check": True} and failed == (["failed"], {})
    assert "pip install tfbert" not in json.dumps(notebook)  # the index's tfbert is another project


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_reimplements_the_package(path):
    """The notebooks call the API; they do not build models, datasets or tokenizers."""
    code = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "code")
    code = re.sub(r"#.*", "", code)  # comments may name what they explain
    for forbidden in ("import tf_keras", "hub.KerasLayer", "tf.data", "model.fit", "import tensorflow", "FullTokenizer",
                      "classification_report(", "confusion_matrix("):
        assert forbidden not in code, forbidden
    assert "tfbert.train(" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch):
    """Headless, as CI runs it: TFBERT_SMOKE=1, W&B disabled, no network, in a fresh kernel."""
    monkeypatch.setenv("TFBERT_SMOKE", "1")
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)  # the notebook must set it itself
    shutil.copy(path, tmp_path / path.name)
    notebook = read(tmp_path / path.name)
    started = time.monotonic()
    NotebookClient(notebook, timeout=SMOKE_SECONDS, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.monotonic() - started
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert errors == []
    text = "\n".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    runs = tmp_path / "runs"
    if path.name.startswith("01"):
        assert "Smoke mode" in text and "decision threshold" in text and "run directory:" in text
        (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".") and p.name != "wandb"]
        assert (run_dir / "export" / "saved_model.pb").is_file()
        assert any("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))
    else:
        assert "no, so the sweep's function runs over two configurations" in text
        assert sorted(p.name for p in (runs / "sweeps").iterdir()) == ["trial-0", "trial-1"]
        assert "lowest validation loss: trial-" in text
    assert not (runs / "wandb").exists()  # W&B disabled in smoke mode
    assert seconds < SMOKE_SECONDS, f"{path.name} took {seconds:.0f} s"
