"""The notebooks run top to bottom, headless, in smoke mode; they are committed without
outputs, install tfbert the way Colab needs, and re-implement nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom_in_smoke_mode(path, tmp_path, monkeypatch):
    """Headless, as CI runs it: TFBERT_SMOKE=1, W&B disabled, no network, in a fresh kernel."""
    monkeypatch.setenv("TFBERT_SMOKE", "1")
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)  # the notebook must set it itself
    shutil.copy(path, tmp_path / path.name)
    notebook = read(tmp_path / path.name)
    if path.name.startswith("01"):
        # A run of the quickstart's name cut off by a disconnect before its first backup: the
        # fine-tune cell must resume it. Then that cell again, as after a disconnect past the end.
        fine_tune = quickstart_cell(notebook, "tfbert.train(")
        index = notebook.cells.index(fine_tune)
        notebook.cells.insert(index, nbformat.v4.new_code_cell(DISCONNECTED_RUN))
        notebook.cells.append(nbformat.v4.new_code_cell(fine_tune.source))
        notebook.cells.append(nbformat.v4.new_code_cell(PREDICTED_HELD_OUT_ROWS))
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
        assert run_dir.name == "toy-sentiment-tiny"  # named after the data and the encoder: a rerun finds it
        assert f"resuming the unfinished run in {Path('runs') / ('.' + run_dir.name + '.incomplete')}" in text
        assert f"{Path('runs') / run_dir.name} has finished: reading it back" in text
        assert (run_dir / "export" / "saved_model.pb").is_file() and (run_dir / "tensorboard").is_dir()
        assert any("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))
        held_out = json.loads((run_dir / "metrics.json").read_text())["test"]["num_examples"]
        assert held_out == 30  # a tenth of the 300 smoke rows, kept out of training and validation
        assert "predicted 8 held-out rows" in text
    else:
        assert "no, so the sweep's function runs over two configurations" in text
        assert sorted(p.name for p in (runs / "sweeps").iterdir()) == ["trial-0", "trial-1"]
        assert "lowest validation loss: trial-" in text
    assert not (runs / "wandb").exists()  # W&B disabled in smoke mode
    assert seconds < SMOKE_SECONDS, f"{path.name} took {seconds:.0f} s"


DISCONNECTED_RUN = """\
from tfbert.config import dump_config
from tfbert.run_directory import staging_for

unfinished = staging_for(config)
unfinished.mkdir(parents=True)
(unfinished / "config.yaml").write_text(dump_config(config))
"""

PREDICTED_HELD_OUT_ROWS = """\
assert set(examples.index) <= set(held_out.index) and not set(held_out.index) & set(config.data_path.index)
print(f"predicted {len(examples)} held-out rows")
"""


def quickstart_cell(notebook: nbformat.NotebookNode, marker: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains `marker`."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and marker in cell.source]
    return cell


class Recorder:
    """Records the calls made to its methods (drive.mount, an IPython shell's run_line_magic)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, *args))


def run_quickstart_setup(monkeypatch, in_colab: bool, **parameters) -> tuple[dict, list]:
    """The quickstart's parameters cell (with `parameters` changed), its data and its run cells,
    executed as in Colab or elsewhere, outside smoke mode; returns their variables and the
    calls made to Google Drive and to the network."""
    notebook = read(NOTEBOOKS[0])
    drive, connections = Recorder(), []

    def connect(address, timeout=None):
        connections.append(address)
        raise OSError("offline")

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.delenv("TFBERT_SMOKE", raising=False)
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    namespace = {"os": os, "IN_COLAB": in_colab}
    exec(quickstart_cell(notebook, "USE_DRIVE =").source, namespace)
    namespace.update(parameters)
    exec(quickstart_cell(notebook, "data_values =").source, namespace)
    exec(quickstart_cell(notebook, "RUN_NAME or").source, namespace)
    return namespace, [call[1:] for call in drive.calls] + [("connect", *address) for address in connections]


def test_quickstart_offline_by_default(monkeypatch):
    """As committed: the offline demo, runs/ beside the notebook, no Drive, no network."""
    namespace, calls = run_quickstart_setup(monkeypatch, in_colab=True)
    assert not namespace["USE_DRIVE"] and calls == []
    assert namespace["data_values"]["data_path"] == "movie-review-polarity"
    assert (namespace["OUTPUT_DIR"], namespace["run_name"]) == ("runs", "movie-review-polarity-all-minilm-l6-v2")


def test_quickstart_uses_the_data_file_and_drive(monkeypatch):
    """DATA_FILE is used with a local encoder without asking the network; in Colab, USE_DRIVE
    mounts Drive and puts the runs there; the run's name comes from the file and the encoder;
    the sample sizes are the report's proportions of Quora's 1,306,122 rows."""
    quora = "/content/drive/MyDrive/quora/train.csv"
    namespace, calls = run_quickstart_setup(monkeypatch, in_colab=True, USE_DRIVE=True, DATA_FILE=quora,
                                            ENCODER="/content/encoders/bert_en_uncased_L-12_H-768_A-12/")
    assert calls == [("/content/drive",)]
    assert namespace["OUTPUT_DIR"] == namespace["DRIVE_OUTPUT_DIR"] and namespace["OUTPUT_DIR"].startswith("/content/drive/")
    assert namespace["run_name"] == "train-bert_en_uncased_L-12_H-768_A-12"
    values = namespace["data_values"]
    assert values["data_path"] == quora
    rows = 1_306_122
    report_train = rows // 10  # the report's train_test_split(train_size=0.1), then 0.01 of the rest
    assert values["max_train_examples"] == report_train
    assert values["max_valid_examples"] == (rows - report_train) // 100


def test_quickstart_drive_only_in_colab(monkeypatch):
    namespace, calls = run_quickstart_setup(monkeypatch, in_colab=False, USE_DRIVE=True, DATA_FILE="reviews.csv.gz",
                                            ENCODER="all-minilm-l6-v2")
    assert calls == [] and namespace["OUTPUT_DIR"] == "runs"
    assert namespace["run_name"] == "reviews-all-minilm-l6-v2"


def test_quickstart_says_when_the_encoder_handle_cannot_be_reached(monkeypatch):
    with pytest.raises(tfbert.TfbertError, match="tfhub.dev cannot be reached"):
        run_quickstart_setup(monkeypatch, in_colab=True, DATA_FILE="train.csv")


def test_quickstart_tensorboard_magic_only_in_colab(capsys):
    """%tensorboard runs in Colab (outside smoke mode); elsewhere the cell prints the command."""
    source = quickstart_cell(read(NOTEBOOKS[0]), "%tensorboard").source
    python = TransformerManager().transform_cell(source)  # the magics as IPython runs them
    for in_colab, smoke in ((True, False), (True, True), (False, False)):
        shell = Recorder()
        exec(python, {"get_ipython": lambda: shell, "IN_COLAB": in_colab, "SMOKE": smoke, "OUTPUT_DIR": "runs"})
        printed = capsys.readouterr().out
        if in_colab and not smoke:
            assert shell.calls == [("run_line_magic", "load_ext", "tensorboard"),
                                   ("run_line_magic", "tensorboard", '--logdir "{OUTPUT_DIR}"')] and printed == ""
        else:
            assert shell.calls == [] and "tensorboard --logdir runs" in printed


def test_the_quickstart_parameters_say_what_long_texts_does_and_the_config_takes_it():
    from tfbert.config import KEYS_BY_NAME

    notebook = read(NOTEBOOKS[0])
    parameters = quickstart_cell(notebook, "USE_DRIVE =").source
    namespace: dict = {"os": os}
    exec(parameters, namespace)
    assert KEYS_BY_NAME["long_texts"].check(namespace["LONG_TEXTS"])
    assert all(mode in parameters for mode in ("truncate", "head_tail", "windows"))
    assert "long_texts=LONG_TEXTS" in quickstart_cell(notebook, "tfbert.load_config(").source
