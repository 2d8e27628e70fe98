"""The train command end to end (`python -m tfbert.train`): the run directory, reloading, and the CLI's errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import types

import numpy as np
import pandas as pd
import pytest
import yaml

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from tfbert import encoders, hub_format, packers, predict
from tfbert.config import from_command_line, load_config
from tfbert.errors import run_command

from conftest import RUN_FILES, command_error, product_dtypes, shared, write_yaml
from train_command import MACRO_METRICS, NEUTRAL, TOPICS, run_main, sentiment_frame

BINARY_METRICS = MACRO_METRICS | {"precision_at_recall_0.5", "decision_threshold", "at_0.5"}


def test_the_sentiment_words_are_whole_words_of_the_tiny_vocabulary():
    vocab = set(hub_format.tiny_vocabulary())
    frame = sentiment_frame(600, seed=0)
    words = {label: set(" ".join(texts).split()) for label, texts in frame.groupby("sentiment")["review"]}
    telling = words["positive"] ^ words["negative"]  # the words found under one label only
    missing = [w for w in sorted(words["positive"] | words["negative"]) + NEUTRAL + sum(TOPICS.values(), []) if w not in vocab]
    assert telling and missing == []  # otherwise they would tokenize to pieces or [UNK] and nothing is learnable


# --------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: str) -> types.SimpleNamespace:
    """One binary run through the CLI entry point: the file says 1 epoch at 3e-5, the
    command line overrides both, as a W&B sweep agent would."""
    root = tmp_path_factory.mktemp("e2e")
    encoder = root / "encoder"  # a copy, deleted later to prove the model is self-contained
    shutil.copytree(tiny_encoder, encoder)
    data = sentiment_frame(300, seed=1, positive_share=0.6)
    data.to_csv(root / "reviews.csv", index=False)
    test = sentiment_frame(50, seed=2)
    test.to_csv(root / "test.csv", index=False)
    config_file = write_yaml(root / "sentiment.yaml", {
        "data_path": str(root / "reviews.csv"),
        "test_path": str(root / "test.csv"),
        "text_column": "review",
        "label_column": "sentiment",
        "encoder": str(encoder),
        "max_seq_length": 32,
        "train_batch_size": 16,
        "learning_rate": 3e-5,
        "dropout": 0.1,
        "epochs": 1,
        "train_split": 0.8,
        "output_dir": str(root / "runs"),
        "mixed_precision": "mixed_bfloat16",  # trained in bfloat16 on any CPU: model/ and export/ are float32
    })
    overrides = ["--learning_rate=1e-3", "--epochs", "5", "--run_name", "sentiment"]
    run = run_main(["--config", str(config_file), *overrides])
    assert run.status == 0, run.stderr
    return types.SimpleNamespace(root=root, encoder=encoder, config_file=config_file, overrides=overrides,
                                 data=data, test=test, run_dir=shared(root / "runs" / "sentiment"), **vars(run))


@pytest.mark.slow
def test_cli_prints_the_run_directory_and_validation_metrics(e2e):
    lines = e2e.stdout.splitlines()
    assert f"run directory: {e2e.run_dir}" in lines
    assert e2e.result.run_dir == e2e.run_dir
    validation = [line for line in lines if line.startswith("validation: ")]
    assert len(validation) == 1
    accuracy = e2e.result.metrics["validation"]["accuracy"]
    assert f"accuracy={accuracy:.4f}" in validation[0]
    assert any(line.startswith("test: accuracy=") for line in lines)
    assert "Traceback" not in e2e.stderr


@pytest.mark.slow
def test_run_directory_holds_exactly_the_documented_files(e2e):
    assert sorted(os.listdir(e2e.run_dir)) == RUN_FILES
    # Nothing else in output_dir: no staging folder, no checkpoints left behind.
    assert os.listdir(e2e.root / "runs") == ["sentiment"]
    assert not list(e2e.run_dir.rglob("checkpoint*"))
    model_dir = e2e.run_dir / "model"
    assert (model_dir / "saved_model.pb").is_file()
    assert json.loads((model_dir / "label_map.json").read_text()) == {"task": "binary", "labels": ["negative", "positive"]}


BESIDE = ("model_save", "export")


@pytest.mark.slow
def test_timings_record_where_the_time_went(e2e):
    timings = json.loads((e2e.run_dir / "timings.json").read_text())
    phases = timings["seconds"]
    assert list(phases) == ["data", "encoder_and_tokenizer", "model_build", "fit", "fit_first_step", "fit_validation",
                            "final_evaluation", "reports_and_plots", "model_save", "export"]  # in-process: no start_up
    assert all(seconds > 0 for seconds in phases.values())
    assert phases["fit"] > phases["fit_first_step"] + phases["fit_validation"]
    # model/ and export/ are written beside the final evaluation and its reports: their seconds overlap those.
    in_turn = sum(seconds for name, seconds in phases.items() if not name.startswith("fit_") and name not in BESIDE)
    assert in_turn <= timings["job_seconds"] < in_turn + phases["model_save"] + phases["export"] + 5
    assert timings["note"].endswith("model_save and export run beside final_evaluation and reports_and_plots")


@pytest.mark.slow
def test_resolved_config_is_written_and_loads_back(e2e):
    written = load_config(e2e.run_dir / "config.yaml")
    expected = from_command_line(e2e.config_file, e2e.overrides)
    assert written.to_dict() == expected.to_dict()
    assert written.learning_rate == 1e-3 and written.epochs == 5 and written.run_name == "sentiment"
    assert written.max_seq_length == 32 and written.dropout == 0.1
    assert written.optimizer == "adam" and written.seed == 42  # defaults are resolved, not left out


@pytest.mark.slow
def test_validation_loss_fell_and_the_best_epoch_was_kept(e2e):
    history = pd.read_csv(e2e.run_dir / "history.csv")
    assert list(history["epoch"]) == list(range(len(history)))
    assert 2 <= len(history) <= 5
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "val_precision_at_recall_0.5"} <= set(history.columns)
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # The model evaluated and saved is the best checkpoint on validation loss. fit validated in bfloat16 and the
    # final evaluation computes in float32 (bfloat16 keeps 8 bits: 0.4%; CPUs without bfloat16 units round
    # otherwise than those with), so the loss is the best epoch's within 1%, and nearer to it than to any other epoch's.
    loss, val_losses = e2e.result.metrics["validation"]["loss"], history["val_loss"]
    assert loss == pytest.approx(val_losses.min(), rel=1e-2)
    assert (val_losses - loss).abs().idxmin() == val_losses.idxmin()


@pytest.mark.slow
def test_metrics_beat_chance_and_have_the_documented_keys(e2e):
    metrics = json.loads((e2e.run_dir / "metrics.json").read_text())
    assert metrics == e2e.result.metrics
    assert set(metrics) == {"validation", "test"}
    validation, test = metrics["validation"], metrics["test"]
    assert set(validation) == BINARY_METRICS and set(test) == BINARY_METRICS
    assert validation["num_examples"] == 60  # 20% of 300 rows
    assert test["num_examples"] == len(e2e.test)
    chance = e2e.data["sentiment"].value_counts(normalize=True).max()  # always guessing the majority
    assert chance == pytest.approx(0.6)
    assert validation["accuracy"] > chance + 0.1
    assert test["accuracy"] > 0.6
    for values in (validation, test):
        for name in ("accuracy", "precision", "recall", "f1", "precision_at_recall_0.5"):
            assert 0.0 <= values[name] <= 1.0
        assert values["loss"] > 0


def matrix_row_totals(matrix: list[list[int]]) -> list[int]:
    return [int(sum(row)) for row in matrix]


@pytest.mark.slow
def test_report_confusion_label_map_and_data_stats(e2e):
    metrics = e2e.result.metrics
    report = (e2e.run_dir / "classification_report.txt").read_text()
    assert "== validation ==" in report and "== test ==" in report
    validation_report = report.split("== test ==")[0]
    positive_row = next(line.split() for line in validation_report.splitlines() if line.strip().startswith("positive"))
    # Binary precision / recall are the positive class's (label id 1).
    assert float(positive_row[1]) == pytest.approx(metrics["validation"]["precision"], abs=1e-4)
    assert float(positive_row[2]) == pytest.approx(metrics["validation"]["recall"], abs=1e-4)
    assert "negative" in validation_report and "macro avg" in validation_report

    confusion = json.loads((e2e.run_dir / "confusion_matrix.json").read_text())
    for title in ("validation", "test"):
        matrix = np.array(confusion[title]["matrix"])
        assert confusion[title]["labels"] == ["negative", "positive"]
        assert matrix.shape == (2, 2)
        assert matrix.sum() == metrics[title]["num_examples"]
        assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics[title]["accuracy"])
    # rows are the true labels: 60% of the validation rows are positive
    assert matrix_row_totals(confusion["validation"]["matrix"]) == [24, 36]

    assert json.loads((e2e.run_dir / "label_map.json").read_text()) == {"task": "binary", "labels": ["negative", "positive"]}
    stats = json.loads((e2e.run_dir / "data_stats.json").read_text())
    assert stats["task"] == "binary"
    assert {name: stats[name]["num_examples"] for name in ("train", "valid", "test")} == {"train": 240, "valid": 60, "test": 50}
    assert stats["train"]["label_distribution"] == {"negative": 96, "positive": 144}  # stratified
    words = e2e.data["review"].str.split().str.len()
    assert stats["train"]["text"]["words"]["max"] <= words.max()
    assert set(stats["train"]["text"]["chars"]) == {"mean", "max", "p95"}


RELOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tfbert import export
    model, label_map = export.load_model(sys.argv[1])
    inputs = dict(np.load(sys.argv[2]))
    np.save(sys.argv[3], model.predict(inputs, verbose=0))
    print(json.dumps(label_map.to_json()))
""")

# The export is plain TensorFlow: no tfbert import, only tensorflow_text for its ops.
SERVING_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    import tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    outputs = serve(text=tf.constant(json.loads(open(sys.argv[2]).read())))
    np.save(sys.argv[3], outputs["probabilities"].numpy())
    print(json.dumps([label.decode() for label in outputs["label"].numpy()]))
""")


@pytest.mark.slow
def test_model_reloads_in_a_fresh_process_without_the_encoder_and_predicts_the_same(e2e, tmp_path):
    tokenizer = packers.load_tokenizer(*encoders.tokenizer_assets(encoders.load_encoder(str(e2e.encoder))))
    texts = list(e2e.test["review"]) + ["a film", "worst best movie ever made"]
    word_ids, mask, type_ids = packers.pack_batch(tokenizer, texts, None, 32)
    inputs = {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}
    expected = e2e.result.model.predict(inputs, verbose=0)
    assert expected.shape == (len(texts), 1)
    assert expected.std() > 0.05  # a trained model, not a constant

    np.savez(tmp_path / "inputs.npz", **inputs)
    e2e.encoder.rename(tmp_path / "encoder")  # the reloaded model must not need the original encoder
    assert not e2e.encoder.exists()
    done = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(e2e.run_dir / "model"), str(tmp_path / "inputs.npz"),
         str(tmp_path / "reloaded.npy")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TFBERT_CACHE": str(tmp_path / "empty-cache")},  # nor tfbert's copy of it
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"task": "binary", "labels": ["negative", "positive"]}
    reloaded = np.load(tmp_path / "reloaded.npy")
    assert reloaded.shape == expected.shape
    assert np.abs(reloaded - expected).max() <= 1e-5

    (tmp_path / "texts.json").write_text(json.dumps(texts))
    done = subprocess.run(
        [sys.executable, "-c", SERVING_SCRIPT, str(e2e.run_dir / "export"), str(tmp_path / "texts.json"),
         str(tmp_path / "served.npy")], capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = np.load(tmp_path / "served.npy")
    assert np.abs(served[:, 1] - expected[:, 0]).max() <= 1e-5
    assert np.abs(served.sum(axis=1) - 1).max() <= 1e-6
    labels = json.loads(done.stdout.strip().splitlines()[-1])
    assert labels == ["positive" if p >= 0.5 else "negative" for p in expected[:, 0]]


@pytest.mark.slow
def test_a_run_trained_in_bfloat16_scores_saves_and_serves_in_float32(e2e):
    timings = json.loads((e2e.run_dir / "timings.json").read_text())
    assert timings["compute_precision"] == "mixed_bfloat16"
    history = pd.read_csv(e2e.run_dir / "history.csv")
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]  # it trained in bfloat16
    classifier = e2e.result.model  # what metrics.json scored and model/ holds
    assert {w.dtype for w in classifier.weights} == {tf.float32, tf.int64, tf.bool}  # and dropout states, do_lower_case
    assert classifier.get_layer("dropout").compute_dtype == "float32"
    for folder in ("model", "export"):
        saved = tf.saved_model.load(str(e2e.run_dir / folder))
        functions = saved.signatures["serving_default"].graph.as_graph_def().library.function
        text = "".join(str(function) for function in functions)
        assert "DT_FLOAT" in text and "DT_BFLOAT16" not in text and "DT_HALF" not in text, folder
    stored = tf.train.list_variables(str(e2e.run_dir / "export" / "variables" / "variables"))
    values = sum(int(np.prod(shape)) for name, shape in stored if "/.ATTRIBUTES/VARIABLE_VALUE" in name)
    weights = sum(int(np.prod(w.shape)) for w in classifier.weights)
    counters = sum(int(np.prod(v.shape)) for metric in classifier.metrics for v in metric.variables)
    assert weights <= values <= weights + counters


@pytest.mark.slow
def test_export_precision_auto_serves_in_the_runs_precision_and_predict_says_so(e2e, tmp_path, tiny_encoder,
                                                                              tiny_vocab_file, capsys):
    config = {**yaml.safe_load(e2e.config_file.read_text()), "encoder": tiny_encoder, "epochs": 1, "save": "model",
              "export_precision": "auto", "output_dir": str(tmp_path / "runs"), "run_name": "auto"}
    result = tfbert.train(config)  # mixed_precision: mixed_bfloat16, so auto is bfloat16 on any CPU
    assert sorted(os.listdir(result.run_dir)) == sorted(set(RUN_FILES) - {"model"})
    predictor = tfbert.Predictor.load(result.run_dir)
    assert predictor.precision == "mixed_bfloat16"
    assert product_dtypes(result.run_dir / "export") == {"bfloat16", "float32"}  # the encoder in bfloat16, the head not
    texts = list(e2e.test["review"])
    labels, probabilities = predictor.serve(texts)
    assert probabilities.dtype == np.float32
    packed = packers.make_packer("tf_text", tiny_vocab_file, True, 32)  # the tiny encoder's uncased vocabulary
    scored = result.model.predict(packed(tf.constant(texts)), verbose=0)[:, 0]  # the float32 model metrics.json scored
    assert 0 < np.abs(probabilities[:, 1] - scored).max() <= 0.02
    assert np.mean(np.array(labels) == np.where(scored >= 0.5, "positive", "negative")) >= 0.9
    pd.DataFrame({"review": texts}).to_csv(tmp_path / "texts.csv", index=False)
    capsys.readouterr()
    assert run_command(predict.main, ["--model", str(result.run_dir), "--input", str(tmp_path / "texts.csv"),
                                      "--text-column", "review", "--output", str(tmp_path / "out.csv")]) == 0
    assert "tfbert: the export computes in mixed_bfloat16\n" in capsys.readouterr().err


@pytest.mark.slow
def test_an_existing_run_directory_is_an_error_not_overwritten(e2e, tmp_path, tiny_encoder):
    before = (e2e.run_dir / "metrics.json").read_text()
    config_file = write_yaml(tmp_path / "again.yaml", {**yaml.safe_load(e2e.config_file.read_text()),
                                                       "encoder": tiny_encoder, "run_name": "sentiment"})
    run = run_main(["--config", str(config_file)])
    message = command_error(run.status, run.stderr)
    assert message.startswith("run directory ") and "already exists" in message
    assert (e2e.run_dir / "metrics.json").read_text() == before

@pytest.mark.slow
def test_deterministic_refuses_an_encoder_trained_as_saved_with_unseeded_dropout_in_one_line(tmp_path, tfhub_encoder):
    run = run_main(["--config", "configs/tiny.yaml", f"--encoder={tfhub_encoder}", "--rebuild_encoder=false",
                    "--deterministic=true", "--epochs=1", f"--output_dir={tmp_path / 'runs'}", "--wandb_mode=disabled"])
    assert "Traceback" not in run.stderr
    message = command_error(run.status, run.stderr.splitlines()[-1] + "\n")
    assert message.startswith("deterministic: true cannot train encoder") and "set deterministic: false" in message
    assert "rebuild_encoder: true" in message
