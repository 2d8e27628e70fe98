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


def test_a_killed_runs_staging_is_kept_to_resume_in(tmp_path):
    stale = tmp_path / ".again.incomplete"
    (stale / "backup").mkdir(parents=True)
    (stale / "history.csv").write_text("epoch,loss\n0,0.7\n")
    run = RunDirectory(tmp_path, "again", keep_unfinished=True)
    assert run.resumed and run.path == stale
    assert sorted(os.listdir(stale)) == ["backup", "history.csv"]
    assert not RunDirectory(tmp_path, "fresh", keep_unfinished=True).resumed


def test_a_write_that_fails_midway_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    from pathlib import Path

    run = RunDirectory(tmp_path, "r")
    run.write_json("metrics.json", {"accuracy": 0.5})
    real_write_text = Path.write_text

    def half_then_fail(self, text, *args, **kwargs):
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        run.write_json("metrics.json", {"accuracy": 0.9, "f1": 0.9})
    assert json.loads((run.path / "metrics.json").read_text()) == {"accuracy": 0.5}
    assert os.listdir(run.path) == ["metrics.json"]


def test_unfinished_runs_are_told_from_finished_ones(tmp_path):
    from tfbert.run_directory import final_path_of, is_unfinished, unfinished_runs

    (tmp_path / "done").mkdir()
    (tmp_path / ".killed.incomplete").mkdir()
    (tmp_path / ".tiny-2.incomplete").mkdir()
    assert is_unfinished(tmp_path / ".killed.incomplete") and is_unfinished(tmp_path / "killed")
    assert not is_unfinished(tmp_path / "done") and not is_unfinished(tmp_path / "never")
    assert final_path_of(tmp_path / ".killed.incomplete") == tmp_path / "killed"
    assert [path.name for path in unfinished_runs(tmp_path, prefix="tiny-")] == [".tiny-2.incomplete"]


def test_a_staging_folder_is_told_by_its_name_and_a_config_names_its_own(tmp_path):
    from tfbert.config import load_config
    from tfbert.run_directory import is_staging_folder, staging_for

    assert is_staging_folder(tmp_path / ".run.incomplete") and is_staging_folder(".sweeps-a.incomplete")
    assert not is_staging_folder(tmp_path / "run") and not is_staging_folder(tmp_path / "run.incomplete")
    config = load_config(output_dir=str(tmp_path / "out"), run_name="sweeps/lr-3e-5")
    assert staging_for(config) == tmp_path / "out" / "sweeps" / ".lr-3e-5.incomplete"


@pytest.mark.parametrize("text, expected", [
    ("save: model\nepochs: 2\n", {"save": "model", "epochs": 2}),
    ("- not\n- a mapping\n", None),
    ("save: [unclosed\n", None),
    (b"save: \xff\n", None),  # not UTF-8
    (None, None),  # no config.yaml
])
def test_a_runs_saved_config_is_its_mapping_or_none(tmp_path, text, expected):
    from tfbert.run_directory import saved_config

    if isinstance(text, bytes):
        (tmp_path / "config.yaml").write_bytes(text)
    elif text is not None:
        (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    assert saved_config(tmp_path) == expected


def test_only_the_chief_writes_under_output_dir_and_empty_folders_are_removed(tmp_path):
    from tfbert.run_directory import remove_if_empty, worker_run_parent

    with worker_run_parent(True, tmp_path) as parent:
        assert parent == tmp_path
    with worker_run_parent(False, tmp_path) as parent:
        assert parent.is_dir() and tmp_path not in parent.parents
        (parent / "file").write_text("x")
    assert not parent.exists()  # a worker's temporary folder goes at the end, full or not
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    remove_if_empty(tmp_path / "empty", tmp_path / "full", tmp_path / "missing")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["full"]
