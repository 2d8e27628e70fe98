"""The Python API of `import tfbert`: light to import, the same jobs as the commands,
one exception type, and a second call in a process that trains like the first."""

from __future__ import annotations

import doctest
import functools
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import last_json_line, reviews, run_python, write_yaml

import tfbert
from tfbert import (atomic, callbacks, config, data, input_pipeline, distribution, encoder_copy, errors, evaluation,
                    exploration, feedforward, model, packers, precision, predictor, progress, resume, run_directory, scoring,
                    timings, training)
from tfbert.data import corpora as data_corpora, labels as data_labels, splits as data_splits
from tfbert.data import statistics as data_statistics, tables as data_tables
from tfbert.errors import TfbertError, run_command

REPO = Path(__file__).parents[1]


# conftest's synthetic reviews, named as a user's file might name them.
sentiment_frame = functools.partial(reviews, columns=("review", "sentiment"), labels=("negative", "positive"))


def tiny_values(tiny_encoder: str, output_dir: Path, **changes) -> dict:
    return {"text_column": "review", "label_column": "sentiment", "encoder": tiny_encoder, "max_seq_length": 16,
            "learning_rate": 1e-3, "dropout": 0.1, "epochs": 2, "train_split": 0.75, "train_batch_size": 16,
            "output_dir": str(output_dir), "wandb_mode": "disabled", **changes}


# --------------------------------------------------------------------------- importing


@pytest.mark.slow
def test_import_is_light_until_a_name_that_needs_tensorflow_is_used(tiny_encoder):
    found = last_json_line(run_python(f"""
        import json, os, sys
        import tfbert
        light = "tensorflow" not in sys.modules
        config = tfbert.load_config({{"data_path": "toy-sentiment"}}, epochs=2)
        still_light = "tensorflow" not in sys.modules
        tfbert.Predictor  # the serving side needs TensorFlow
        import tfbert.predict
        serving_loads = [name for name in ("sklearn", "matplotlib", "wandb") if name in sys.modules]
        import tfbert.training
        training_loads = [name for name in ("sklearn", "matplotlib", "wandb") if name in sys.modules]
        from tfbert import encoders
        handle = encoders.load_encoder({tiny_encoder!r}).get_config()["handle"]
        print(json.dumps({{"light": light, "after_config": still_light, "epochs": config.epochs,
                          "tensorflow": "tensorflow" in sys.modules, "env": os.environ["TF_USE_LEGACY_KERAS"],
                          "names": sorted(tfbert.__all__), "serving_loads": serving_loads, "handle": handle,
                          "training_loads": training_loads,
                          "keras_3": "keras" in sys.modules}}))
    """))
    assert found["light"] and found["after_config"] and found["epochs"] == 2
    assert found["tensorflow"] and found["env"] == "1"
    assert found["serving_loads"] == []  # nor does the predict command: neither reports, plots nor W&B
    assert found["training_loads"] == []  # the training job loads them when it reports (sklearn: 0.6 s) and tracks
    assert found["handle"] == tiny_encoder  # a model's config names the encoder as KerasLayer(handle) would
    assert not found["keras_3"]  # loading an encoder does not import Keras 3 (0.6 s) only to find no use for it
    assert {"load_config", "train", "evaluate", "Predictor", "TfbertError", "explore_data"} <= set(found["names"])


def test_the_api_names_are_the_library_functions():
    assert tfbert.load_config is config.load_config
    assert tfbert.train is training.train
    assert tfbert.evaluate is evaluation.evaluate
    assert tfbert.Predictor is predictor.Predictor
    assert tfbert.TfbertError is TfbertError
    assert tfbert.explore_data is exploration.explore_data
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        tfbert.trian  # noqa: B018


def test_train_and_evaluate_stay_functions_after_their_command_modules_are_imported():
    import tfbert.evaluate as evaluate_attribute
    import tfbert.train as train_attribute
    from tfbert.evaluate import main as evaluate_main
    from tfbert.train import main as train_main

    assert sys.modules["tfbert.train"].main is train_main and sys.modules["tfbert.evaluate"].main is evaluate_main
    assert tfbert.train is training.train and tfbert.evaluate is evaluation.evaluate
    assert train_attribute is training.train and evaluate_attribute is evaluation.evaluate
    from tfbert import evaluate, train

    assert train is training.train and evaluate is evaluation.evaluate


@pytest.mark.slow
def test_the_docstring_examples_run(tmp_path, monkeypatch):
    """The runnable examples in the API's docstrings (those not marked to skip)."""
    monkeypatch.chdir(REPO)  # the examples name configs/tiny.yaml, as a user in the repository would
    modules = (atomic, callbacks, config, data, input_pipeline, distribution, encoder_copy, errors, evaluation, exploration,
               feedforward, model, packers, precision, predictor, progress, resume, run_directory, scoring, timings, training,
               data_corpora, data_tables, data_labels, data_splits, data_statistics)
    for module in modules:
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        for test in finder.find(module, globs={"tmp": str(tmp_path / module.__name__)}):
            runner.run(test, out=io.StringIO().write)
        assert runner.failures == 0, f"{module.__name__}: {runner.failures} of {runner.tries} examples failed"
        assert runner.tries > 0, module.__name__


# --------------------------------------------------------------------------- load_config


def test_load_config_from_a_path_a_dict_a_config_or_keys_alone(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("epochs: 3\ndropout: 0.2\n", encoding="utf-8")
    from_path = tfbert.load_config(path, learning_rate=3e-5)
    assert (from_path.epochs, from_path.dropout, from_path.learning_rate, from_path.name) == (3, 0.2, 3e-5, "mine")
    from_dict = tfbert.load_config({"epochs": 3, "dropout": 0.2}, learning_rate="3e-5")
    assert from_dict.to_dict() == from_path.to_dict()
    assert tfbert.load_config(from_dict, epochs=4).epochs == 4
    assert tfbert.load_config(epochs=1).to_dict() == {**tfbert.load_config().to_dict(), "epochs": 1}


@pytest.mark.parametrize("call, message", [
    (lambda: tfbert.load_config(epoch=1), "unknown config key 'epoch': did you mean 'epochs'?"),
    (lambda: tfbert.load_config(dropout=1.5), "config key 'dropout' must be in [0, 1), got 1.5"),
    (lambda: tfbert.load_config("no/such.yaml"), "config file not found: no/such.yaml"),
])
def test_load_config_errors_are_tfbert_errors(call, message):
    with pytest.raises(TfbertError) as raised:
        call()
    assert str(raised.value) == message


# --------------------------------------------------------------------------- train


def test_errors_raise_the_message_the_command_line_prints(tmp_path, tiny_encoder, capsys):
    """One exception type, the command's one-line message, and no SystemExit."""
    from conftest import command_error

    from tfbert.train import main as train_main

    values = tiny_values(tiny_encoder, tmp_path / "runs", data_path=str(tmp_path / "missing.csv"))
    bad = write_yaml(tmp_path / "bad.yaml", values)
    with pytest.raises(TfbertError) as raised:
        tfbert.train(bad)
    status = run_command(train_main, ["--config", str(bad)])
    assert command_error(status, capsys.readouterr().err) == str(raised.value)
    with pytest.raises(TfbertError, match="did you mean 'epochs'"):
        tfbert.train(bad, epoch=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_dataframes_as_data_train_and_are_recorded_as_their_size(tmp_path, tiny_encoder):
    frame, test = sentiment_frame(80, seed=2), sentiment_frame(24, seed=3)
    result = tfbert.train(tiny_values(tiny_encoder, tmp_path / "runs"), data_path=frame, test_path=test,
                          run_name="frames")
    assert result.run_dir == tmp_path / "runs" / "frames"
    recorded = yaml.safe_load((result.run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert recorded["data_path"] == "<DataFrame: 80 rows>" and recorded["test_path"] == "<DataFrame: 24 rows>"
    assert recorded["valid_path"] is None
    stats = json.loads((result.run_dir / "data_stats.json").read_text(encoding="utf-8"))
    assert (stats["train"]["num_examples"], stats["valid"]["num_examples"], stats["test"]["num_examples"]) == (60, 20, 24)
    assert set(result.metrics) == {"validation", "test"} and result.metrics["test"]["num_examples"] == 24
    assert len(frame) == 80 and list(frame.columns) == ["review", "sentiment"]  # the caller's frame is untouched


TRAINS = """
    import gc, json
    {imports}
    import numpy as np
    import tfbert, tensorflow as tf

    def variables():
        gc.collect()
        return sum(isinstance(o, tf.Variable) for o in gc.get_objects())

    def sums(model):
        return [float(np.abs(w).sum()) for w in model.get_weights()]

    found, kept = [], []
    for index, changes in enumerate({runs!r}):
        result = tfbert.train({values!r}, **changes)
        weights = result.model.get_weights()
        served = tfbert.Predictor.load(result.run_dir).serve({texts!r})[1]
        found.append({{"metrics": result.metrics, "layers": [layer.name for layer in result.model.layers],
                      "weights": sums(result.model), "head": weights[-2].tolist(),
                      "served": served.tolist(), "run_dir": str(result.run_dir)}})
        for earlier, model in kept:  # a model kept through this run, as a notebook's variable keeps it
            found[earlier]["weights_after_the_next_run"] = sums(model)
        kept = [(index, result.model)] if index == {keep!r} else []
        del result, weights, served
        found[-1]["live_variables"] = variables()
    if {evaluate!r}:
        evaluated = tfbert.evaluate(found[-1]["run_dir"], {evaluate!r})
        found[-1] |= {{"folder": str(evaluated.folder), "accuracy": evaluated.metrics["accuracy"]}}
    print(json.dumps(found))
"""


def trains(values: dict, runs: list[dict], texts: list[str], imports: str = "", evaluate: str | None = None,
           keep: int | None = None) -> list[dict]:
    """TRAINS in a fresh process: `imports` first, then tfbert.train once for each of `runs`
    (overrides), its export serving `texts`, then (given a data file) tfbert.evaluate of the
    last run; what each call gave (float32 values as JSON floats, so exactly). The model run
    `keep` returned is kept through the next run, the others are dropped as a sweep's are."""
    return last_json_line(run_python(TRAINS.format(imports=imports, runs=runs, values=values, texts=texts,
                                                   evaluate=evaluate, keep=keep)))


@pytest.mark.slow
def test_training_twice_in_one_process_trains_bit_for_bit_as_a_fresh_process_does_and_another_seed_differs(
        tmp_path, tfhub_encoder):
    """A notebook or a sweep function calls train again and again: Keras state is cleared
    and the seed reset each time, so with deterministic: true each call equals a fresh
    process's one call bit for bit, and nothing piles up from call to call. The encoder is
    exported as TF Hub's BERTs are, its dropout ops unseeded: tfbert trains its rebuilt copy,
    whose dropout follows the run's seed, so another seed differs. The fresh process imports
    the command modules first, then calls the functions train and evaluate."""
    sentiment_frame(80, seed=0).to_csv(tmp_path / "reviews.csv", index=False)
    new = sentiment_frame(30, seed=1)
    new.to_csv(tmp_path / "new.csv", index=False)
    values = tiny_values(str(tfhub_encoder), tmp_path / "runs", data_path=str(tmp_path / "reviews.csv"),
                         learning_rate=3e-3, train_batch_size=4, epochs=4, deterministic=True, seed=7)  # 4 x 15 steps
    texts = list(sentiment_frame(50, seed=9)["review"])
    # One process trains seed 8 (its model kept through the next call), then seed 7 twice; another
    # trains seed 7 once. The later calls equal the fresh process's first bit for bit: neither the
    # earlier calls nor the process leave a trace (the determinism of two fresh processes is the
    # special case). The third call trains on the encoders the second loaded (loaded_encoders).
    other, second, third = trains(values, [{"run_name": "c", "seed": 8}, {"run_name": "a"}, {"run_name": "b"}], texts,
                                  keep=0)
    (fresh,) = trains(values, [{"run_name": "first"}], texts, imports="import tfbert.train, tfbert.evaluate, tfbert.predict",
                      evaluate=str(tmp_path / "new.csv"))
    assert second["layers"] == third["layers"] == other["layers"] == fresh["layers"]  # Keras' state was cleared
    for key in ("metrics", "weights", "head", "served"):
        assert second[key] == third[key] == fresh[key], key
    assert np.abs(np.array(other["served"]) - fresh["served"]).max() > 1e-4  # the seed reaches the encoder's dropout
    assert other["weights_after_the_next_run"] == other["weights"]  # a kept model keeps its weights
    assert second["live_variables"] == third["live_variables"]  # no variables left behind per call

    assert Path(fresh["run_dir"]) == tmp_path / "runs" / "first"
    assert Path(fresh["folder"]) == tmp_path / "runs" / "first" / "evaluations" / "new"
    majority = new["sentiment"].value_counts(normalize=True).max()  # always guessing the commoner label
    assert fresh["accuracy"] > majority + 0.1  # it learnt
