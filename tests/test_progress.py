"""tfbert.progress: a bar on a terminal, plain periodic lines otherwise, nothing when quiet;
the final evaluation and the Predictor report through it."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import progress, scoring
from tfbert.data import LabelMap

from conftest import make_split


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def normal_verbosity():
    progress.set_verbosity(progress.NORMAL)
    yield
    progress.set_verbosity(progress.NORMAL)


def metered(stream: io.StringIO, total: int, steps: list[int], **options) -> str:
    with progress.meter(total, "scoring", stream=stream, **options) as advance:
        for count in steps:
            advance(count)
    return stream.getvalue()


def test_a_file_gets_a_plain_line_at_every_tenth():
    lines = metered(io.StringIO(), 200, [1] * 200).splitlines(keepends=True)
    assert [line.split(" (")[0] for line in lines] == [f"scoring: {n}/200 examples" for n in range(20, 201, 20)]
    assert lines[-1].startswith("scoring: 200/200 examples (100%) in ")
    assert all(line.endswith("s\n") and "\r" not in line for line in lines[-1:])
    assert all(", about " in line and line.endswith(" to go\n") and "\r" not in line for line in lines[:-1])  # the ETA


def test_a_file_gets_a_line_when_the_interval_passes_within_a_tenth():
    lines = metered(io.StringIO(), 1000, [1, 1, 1], interval=0).splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"scoring: {n}/1,000 examples" for n in (1, 2, 3)]


def test_a_terminal_gets_a_bar():
    shown = metered(Terminal(), 10, [4, 6])
    assert "\r" in shown and "scoring: 100%|" in shown and "10/10" in shown


@pytest.mark.parametrize("stream", [io.StringIO, Terminal])
def test_quiet_shows_nothing(stream):
    progress.set_verbosity("quiet")
    assert metered(stream(), 10, [4, 6]) == ""


def test_progress_goes_to_stderr_by_default(capsys):
    with progress.meter(2, "scoring") as advance:
        advance(2)
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("scoring: 2/2 examples (100%)")


def test_keras_verbose_follows_the_level_and_the_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout", Terminal())
    assert progress.keras_verbose() == 1
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert progress.keras_verbose() == 2
    progress.set_verbosity("verbose")
    assert progress.keras_verbose() == 2
    progress.set_verbosity("quiet")
    assert progress.keras_verbose() == 0


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="quiet, normal, verbose"):
        progress.set_verbosity("loud")
    assert progress.verbosity() == "normal"


def _length_model():
    import tf_keras

    inputs = tf_keras.Input(shape=(1,))
    return tf_keras.Model(inputs, tf_keras.layers.Dense(1, activation="sigmoid")(inputs))


def _length_batches(split):
    import tensorflow as tf

    lengths = np.array([[len(text)] for text in split.texts], dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices(lengths).batch(3)


def test_the_final_evaluation_counts_examples_as_the_batches_finish(capsys):
    texts = ["a" * n for n in range(10, 0, -1)]
    split = make_split(texts, labels=np.array([n % 2 for n in range(10)], dtype=np.int32))
    outputs = scoring.run_model_in_length_order(_length_model(), split, _length_batches,
                                                LabelMap(("no", "yes"), "binary"))
    assert outputs.probabilities.shape == (10, 1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"evaluating test: {n}/10 examples" for n in (3, 6, 9, 10)]

    progress.set_verbosity("quiet")
    scoring.run_model_in_length_order(_length_model(), split, _length_batches, LabelMap(("no", "yes"), "binary"))
    assert capsys.readouterr().err == ""


def test_the_predictor_counts_texts_as_it_tokenizes_and_scores_each_batch(pair_export, capsys):
    from tfbert.predictor import Predictor

    predictor = Predictor.load(pair_export[3], batch_size=2)
    texts = [f"text number {n}" for n in range(6)]
    predicted = predictor.predict(texts, pairs=texts[::-1])
    assert predicted["text"].tolist() == texts
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"predicting: {n}/6 texts" for n in (2, 4, 6)]

    progress.set_verbosity("quiet")
    predictor.predict(texts, pairs=texts)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- notes and durations

def test_a_note_is_one_tfbert_line_on_stderr_and_quiet_drops_it(capsys):
    progress.note("fit: 15 steps per epoch")
    assert capsys.readouterr() == ("", "tfbert: fit: 15 steps per epoch\n")
    progress.set_verbosity("quiet")
    progress.note("fit: 15 steps per epoch")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("seconds, shown", [(0.04, "0.0s"), (9.94, "9.9s"), (42.4, "42s"), (59.6, "1m 00s"),
                                            (754, "12m 34s"), (3599.4, "59m 59s"), (3600, "1h 00m"),
                                            (50_688, "14h 05m")])
def test_durations_read_as_a_person_says_them(seconds, shown):
    assert progress.duration(seconds) == shown


# --------------------------------------------------------------------------- notebooks

class FakeShell:
    def __init__(self, kernel):
        self.kernel = kernel


def fake_ipython(monkeypatch, kernel) -> None:
    """This process as IPython would make it look: ipykernel loaded, get_ipython() a shell."""
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: FakeShell(kernel)))


def test_only_a_kernel_counts_as_a_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not progress.in_notebook()
    fake_ipython(monkeypatch, kernel=None)  # a terminal IPython that imported ipykernel
    assert not progress.in_notebook()
    fake_ipython(monkeypatch, kernel=object())
    assert progress.in_notebook()


def test_in_a_notebook_keras_draws_its_bar_though_stdout_is_no_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    fake_ipython(monkeypatch, kernel=object())
    OutStream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr("sys.stdout", OutStream())
    assert progress.keras_verbose() == 1
    progress.set_verbosity("quiet")
    assert progress.keras_verbose() == 0
    progress.set_verbosity("normal")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # output sent to a file from a notebook: lines, not a bar
    assert progress.keras_verbose() == 2


NOTEBOOK_CELL = """
import numpy as np
import tfbert
from tfbert import progress
import tf_keras

print("keras_verbose", progress.keras_verbose())
inputs = tf_keras.Input(shape=(2,))
model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(inputs))
model.compile(optimizer="sgd", loss="mse")
model.fit(np.zeros((40, 2)), np.zeros(40), batch_size=4, epochs=1, verbose=progress.keras_verbose())
with progress.meter(10, "scoring") as advance:
    for _ in range(5):
        advance(2)
"""


@pytest.mark.slow
def test_a_notebook_cell_shows_live_bars_for_fit_and_for_tfbert_loops(tmp_path):
    """Run headless in a real kernel, as Jupyter or Colab would run it: Keras' bar and the
    meter redraw one line (carriage returns, step counts) instead of printing once at the end."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    assert [output for output in outputs if output.output_type == "error"] == []
    stdout = "".join(output.text for output in outputs if output.get("name") == "stdout")
    stderr = "".join(output.text for output in outputs if output.get("name") == "stderr")
    assert "keras_verbose 1" in stdout
    fit = stdout.split("keras_verbose 1", 1)[1]
    assert fit.count("\r") >= 2 and " 1/10 [" in fit and "10/10 [" in fit  # Keras' Progbar, redrawn step by step
    assert "/epoch" not in fit  # not verbose 2's one line per epoch ("10/10 - 0s - loss: ... - 0s/epoch - ...")
    assert stderr.count("\r") >= 2 and "scoring: 100%|" in stderr and "10/10" in stderr  # tqdm's bar, not lines
    assert "scoring: 2/10 examples (20%)" not in stderr
