"""The train command's command line (`python -m tfbert.train`): --help, every key given without
a config file, and its one-line errors for refused input (exit 2, no run directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import training
from tfbert.config import KEYS, build_config, shown
from tfbert.errors import run_command
from tfbert.train import main as train_main

from conftest import command_error, run_python, write_yaml
from train_command import run_main, sentiment_frame

@pytest.fixture
def workdir(tmp_path: Path, tiny_encoder: str) -> types.SimpleNamespace:
    """A valid data file and config, which each error case then breaks in one way."""
    sentiment_frame(20, seed=6).to_csv(tmp_path / "reviews.csv", index=False)
    values = {"data_path": str(tmp_path / "reviews.csv"), "text_column": "review", "label_column": "sentiment",
              "encoder": tiny_encoder, "max_seq_length": 16, "epochs": 1, "output_dir": str(tmp_path / "runs")}
    return types.SimpleNamespace(path=tmp_path, values=values, config=write_yaml(tmp_path / "ok.yaml", values))


def write_data(workdir, name: str, text: str) -> list[str]:
    """argv for a config whose data_path is a file holding `text`."""
    (workdir.path / name).write_text(text, encoding="utf-8")
    config = write_yaml(workdir.path / "bad.yaml", {**workdir.values, "data_path": str(workdir.path / name)})
    return ["--config", str(config)]


def bad_yaml(workdir, **changes) -> list[str]:
    return ["--config", str(write_yaml(workdir.path / "bad.yaml", {**workdir.values, **changes}))]


CLI_ERRORS = {
    "missing config file": (lambda w: ["--config", str(w.path / "nope.yaml")], "config file not found"),
    "no --config": (lambda w: [], "no data_path: pass --data_path="),  # every key from the command line
    "unknown key in the file": (lambda w: bad_yaml(w, learnig_rate=1e-3), "did you mean 'learning_rate'"),
    "unknown key on the command line": (lambda w: ["--config", str(w.config), "--epoch", "2"], "did you mean 'epochs'"),
    "wrong type": (lambda w: ["--config", str(w.config), "--epochs=two"], "'epochs'"),
    "out of range": (lambda w: ["--config", str(w.config), "--dropout", "1.5"], "'dropout'"),
    "missing data file": (lambda w: bad_yaml(w, data_path=str(w.path / "missing.csv")), "data file not found"),
    "missing column": (lambda w: write_data(w, "cols.csv", "sentence,sentiment\nhello,positive\nbye,negative\n"),
                       "column 'review' not found"),
    "empty file": (lambda w: write_data(w, "empty.csv", ""), "empty"),
    "header only": (lambda w: write_data(w, "header.csv", "review,sentiment\n"), "no rows"),
    "single class": (lambda w: write_data(w, "one.csv", "review,sentiment\n" + "good film,positive\n" * 10),
                     "single label"),
    "NaN text": (lambda w: write_data(w, "nan.csv", "review,sentiment\ngood,positive\n,negative\nbad,negative\n"),
                 "missing values"),
    "missing label": (lambda w: write_data(w, "nolabel.csv", "review,sentiment\ngood,positive\nbad,\nfine,negative\n"),
                      "missing values"),
    "bad encoder": (lambda w: bad_yaml(w, encoder=str(w.path / "no-encoder")), "encoder"),
}


@pytest.mark.parametrize("case", list(CLI_ERRORS))
def test_cli_errors_are_one_line_and_exit_2(case, workdir):
    make_argv, fragment = CLI_ERRORS[case]
    run = run_main(make_argv(workdir))
    assert fragment in command_error(run.status, run.stderr)
    assert run.result is None
    assert not (workdir.path / "runs").exists() or os.listdir(workdir.path / "runs") == []


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unknown key on the command line", "NaN text"])
def test_cli_errors_from_a_real_process(case, workdir):
    make_argv, fragment = CLI_ERRORS[case]
    done = subprocess.run([sys.executable, "-m", "tfbert.train", *make_argv(workdir)],
                          capture_output=True, text=True, timeout=300, cwd=workdir.path)
    assert fragment in command_error(done.returncode, done.stderr, done.stdout)


# The training command in a fresh interpreter (argv: {argv}); at exit it names the heavy modules it loaded.
COMMAND_AND_ITS_IMPORTS = """
import atexit, runpy, sys
heavy = ("tensorflow", "pandas", "sklearn", "matplotlib", "wandb", "official")
atexit.register(lambda: print("loaded:", *[name for name in heavy if name in sys.modules], file=sys.stderr))
sys.argv = ["tfbert.train", *{argv!r}]
runpy.run_module("tfbert.train", run_name="__main__", alter_sys=True)
"""


def run_command_process(*args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    done = run_python(COMMAND_AND_ITS_IMPORTS.format(argv=list(args)), timeout=120)
    *rest, loaded = done.stderr.rstrip().splitlines()
    done.stderr = "".join(line + "\n" for line in rest)
    return done, loaded.removeprefix("loaded:").split()


def test_help_lists_every_config_key_with_its_help_and_default_before_tensorflow_loads():
    done, loaded = run_command_process("--help")
    assert done.returncode == 0, done.stderr
    assert loaded == []  # TensorFlow, pandas, sklearn, matplotlib, W&B and Model Garden: none yet
    text = " ".join(done.stdout.split())  # as if unwrapped
    for option in ("--config CONFIG", "--resume [RUN_DIR]", "--quiet", "--verbose"):
        assert option in text
    for key in KEYS:
        assert f"--{key.name} {key.kind.upper()} {key.help} (default: {shown(key.default)})" in text, key.name


def test_a_mistyped_key_is_refused_before_tensorflow_loads():
    done, loaded = run_command_process("--data_path=toy-sentiment", "--encoder=tiny", "--learning_rat=1e-3")
    assert command_error(done.returncode, done.stderr, done.stdout) == \
        "unknown config key 'learning_rat': did you mean 'learning_rate'?"
    assert loaded == []


def test_the_command_runs_without_a_config_file(tmp_path, monkeypatch, capsys):
    """Every key from the command line over the defaults; the run is named after the data file.
    (The training job itself is the one every other test here runs: replaced, to stay fast.)"""
    trained = []

    def fake_train(config, resume_run=None):
        trained.append((config, resume_run))
        return training.RunResult(Path("runs") / training.default_run_name(config), {}, None)

    monkeypatch.setattr(training, "train", fake_train)
    status = run_command(train_main, ["--data_path=data/reviews.csv", "--text_column=review", "--label_column=sentiment",
                                      "--encoder=all-minilm-l6-v2", "--epochs", "1", "--max_train_examples=60"])
    assert status == 0, capsys.readouterr().err
    [(config, resume_run)] = trained
    assert resume_run is None and config.name == "reviews"
    assert (config.data_path, config.text_column, config.label_column, config.encoder, config.epochs,
            config.max_train_examples) == ("data/reviews.csv", "review", "sentiment", "all-minilm-l6-v2", 1, 60)
    given = {"data_path", "text_column", "label_column", "encoder", "epochs", "max_train_examples"}
    defaults = build_config({}).to_dict()
    assert {key: value for key, value in config.to_dict().items() if key not in given} == \
        {key: value for key, value in defaults.items() if key not in given}  # the rest: the package's defaults
    name = capsys.readouterr().out.removeprefix("run directory: runs/").strip()
    assert name.startswith("reviews-") and time.strptime(name.removeprefix("reviews-"), "%Y%m%d-%H%M%S")
