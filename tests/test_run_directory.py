"""The run directory: staged in a hidden folder, renamed into place when finished."""

from __future__ import annotations

import json
import os

import pytest

from tfbert.errors import TfbertError
from tfbert.run_directory import RunDirectory


def test_a_run_is_staged_in_a_hidden_folder_until_finished(tmp_path):
    output = tmp_path / "runs" / "nested"  # created as needed
    run = RunDirectory(output, "first")
    assert run.path == output / ".first.incomplete" and run.path.is_dir()
    assert run.final_path == output / "first"
    assert not run.final_path.exists()

    written = run.write_text("config.yaml", "seed: 1\n")
    assert written == run.path / "config.yaml"
    run.write_json("metrics.json", {"validation": {"accuracy": 0.5}, "label": "é"})
    assert not run.final_path.exists()  # nothing looks finished before finish()

    final = run.finish()
    assert final == output / "first" and run.path == final
    assert os.listdir(output) == ["first"]
    assert (final / "config.yaml").read_text() == "seed: 1\n"
    assert json.loads((final / "metrics.json").read_text(encoding="utf-8")) == {"validation": {"accuracy": 0.5},
                                                                                "label": "é"}


def test_an_existing_run_directory_is_an_error_and_left_alone(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "metrics.json").write_text("{}")
    with pytest.raises(TfbertError, match="done.*already exists.*run_name"):
        RunDirectory(tmp_path, "done")
    assert os.listdir(tmp_path) == ["done"]  # no staging folder made either
    assert (tmp_path / "done" / "metrics.json").read_text() == "{}"


def test_the_staging_left_by_an_interrupted_run_is_replaced(tmp_path):
    stale = tmp_path / ".again.incomplete"
    (stale / "model").mkdir(parents=True)
    (stale / "history.csv").write_text("epoch,loss\n0,nan\n")
    run = RunDirectory(tmp_path, "again")
    assert run.path == stale and os.listdir(stale) == []
    run.write_text("config.yaml", "{}\n")
    assert sorted(os.listdir(run.finish())) == ["config.yaml"]
    assert os.listdir(tmp_path) == ["again"]


def test_a_run_name_may_name_a_subfolder(tmp_path):
    run = RunDirectory(tmp_path, "sweep/lr-3e-5")
    assert run.path == tmp_path / "sweep" / ".lr-3e-5.incomplete"
    run.write_text("config.yaml", "{}\n")
    assert run.finish() == tmp_path / "sweep" / "lr-3e-5"
    assert os.listdir(tmp_path / "sweep") == ["lr-3e-5"]
    with pytest.raises(TfbertError, match="already exists"):
        RunDirectory(tmp_path, "sweep/lr-3e-5")


def test_runs_of_other_names_do_not_interfere(tmp_path):
    first = RunDirectory(tmp_path, "a")
    second = RunDirectory(tmp_path, "b")
    second.write_text("x", "b")
    second.finish()
    assert sorted(os.listdir(tmp_path)) == [".a.incomplete", "b"]
    first.finish()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
