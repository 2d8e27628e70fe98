"""finishing: the report work done ahead, in a thread while fit's steps run, only when that is safe
(the final evaluation and saving of a whole run: test_training.py and test_train.py)."""

from __future__ import annotations

import threading
import types

import pytest

from tfbert import finishing, plots


@pytest.mark.parametrize("draws, backend, chief, drawn_in", [
    (True, None, True, "tfbert-reports"),  # a plain run: drawn beside the steps
    (False, None, True, "MainThread"),  # the caller's callbacks may draw with pyplot during fit
    (True, "TkAgg", True, "MainThread"),  # a GUI backend draws on the main thread only
    (True, None, False, "MainThread"),  # a worker that is not the chief writes no reports ahead
])
def test_the_data_plots_are_drawn_ahead_only_when_that_is_safe(tmp_path, monkeypatch, draws, backend, chief, drawn_in):
    if backend:
        monkeypatch.setenv("MPLBACKEND", backend)
    else:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    threads = []

    def save_data_plots(folder, stats, texts):
        threads.append(threading.current_thread().name)
        return {"data/text_lengths": folder / "text_lengths.png"}

    monkeypatch.setattr(plots, "save_data_plots", save_data_plots)
    monkeypatch.setattr(finishing, "_load_report_libraries", lambda: None)
    job = types.SimpleNamespace(splits={"train": types.SimpleNamespace(texts=["a b"])}, stats={},
                                run=types.SimpleNamespace(path=tmp_path), is_chief=chief)
    with finishing.ReportsAhead(job, draws=draws) as ahead:
        ahead.start()
        assert ahead.data_plots() == {"data/text_lengths": tmp_path / "plots" / "text_lengths.png"}
    assert len(threads) == 1 and threads[0].startswith(drawn_in)
