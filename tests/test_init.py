"""Importing tfbert selects Keras 2 for TensorFlow, or says clearly why it cannot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import last_json_line, run_python

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)


def test_this_session_runs_keras_2_behind_tf_keras():
    import tensorflow as tf
    import tf_keras

    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    assert tf.keras.layers.Dense is tf_keras.layers.Dense


def test_a_model_tfbert_builds_is_a_tf_keras_model_that_runs_a_hub_layer(tiny_encoder):
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras

    from tfbert import encoders, model
    from tfbert.data import LabelMap

    classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), LabelMap((0, 1), "binary"), dropout=0.1)
    assert isinstance(classifier, tf_keras.Model) and isinstance(classifier, tf.keras.Model)
    assert isinstance(classifier.get_layer("encoder"), hub.KerasLayer)
    ids = np.full((2, 8), 5, dtype=np.int32)
    probabilities = classifier({"input_word_ids": ids, "input_mask": np.ones_like(ids),
                                "input_type_ids": np.zeros_like(ids)}, training=False).numpy()
    assert probabilities.shape == (2, 1) and ((probabilities > 0) & (probabilities < 1)).all()


PROBE = """
    import json, os, sys
    {before}
    import tfbert
    env_after_import = os.environ.get("TF_USE_LEGACY_KERAS")
    tensorflow_loaded_by_import = "tensorflow" in sys.modules
    import tensorflow as tf
    import tf_keras
    print(json.dumps({{
        "env": env_after_import,
        "tensorflow_loaded_by_import": tensorflow_loaded_by_import,
        "tf_keras_behind_tf_keras": tf.keras.layers.Dense is tf_keras.layers.Dense,
        "model_is_tf_keras": isinstance(tf.keras.Sequential(), tf_keras.Model),
    }}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("preset", [None, "0"], ids=["unset", "set to 0"])
def test_importing_tfbert_first_selects_legacy_keras(preset):
    found = last_json_line(run_python(PROBE.format(before=""), TF_USE_LEGACY_KERAS=preset))
    assert found["env"] == "1" and found["tensorflow_loaded_by_import"] is False  # set before TensorFlow loads
    assert found["tf_keras_behind_tf_keras"] is True and found["model_is_tf_keras"] is True


@pytest.mark.slow
def test_tensorflow_imported_first_with_legacy_keras_is_fine():
    found = last_json_line(run_python(PROBE.format(before="import tensorflow"), TF_USE_LEGACY_KERAS="1"))
    assert found["tf_keras_behind_tf_keras"] is True


@pytest.mark.slow
def test_tensorflow_imported_first_with_keras_3_is_a_one_line_error():
    done = run_python("""
        import json
        import tensorflow as tf
        keras_version = tf.keras.version()  # Keras 3 is behind tf.keras now
        try:
            import tfbert
        except ImportError as err:
            print(json.dumps({"keras": keras_version, "type": type(err).__name__, "message": str(err)}))
        else:
            print(json.dumps({"keras": keras_version, "type": None}))
    """, TF_USE_LEGACY_KERAS=None)
    found = last_json_line(done)
    assert found["keras"].startswith("3.")
    assert found["type"] == "KerasVersionError"
    message = found["message"]
    assert "\n" not in message
    assert "Keras 3" in message and "TF_USE_LEGACY_KERAS=1" in message and "before importing TensorFlow" in message

    # Uncaught, as a user would meet it: the message is the last line, nothing after it.
    done = run_python("import tensorflow as tf; tf.keras.version(); import tfbert.train", TF_USE_LEGACY_KERAS=None)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"tfbert.KerasVersionError: {message}"


# --------------------------------------------------------------------------- quiet by default

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ log lines ("2026-12-01 23:06:53.376676: E external/...cc:51] ...", absl's
# "I0000 00:00:1733094413.123456   123 cpu_feature_guard.cc:...") and its Python logger's.
TENSORFLOW_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d\d)|cuInit|"
                                 r"^(INFO|WARNING):tensorflow:")


def run_command_line(*args: str) -> subprocess.CompletedProcess:
    """`python -m tfbert.<args>` in the repository, with TensorFlow's log level as a user has it: unset."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=environment, cwd=REPO,
                          timeout=600)


@pytest.mark.slow
def test_a_training_run_says_tfbert_s_lines_and_keras_progress_and_records_its_start_up(tmp_path):
    """python -m tfbert.train as users run it: tfbert's lines, Keras' progress and nothing
    else; the run directory; timings.json with the process's start-up (interpreter and
    imports) before the job's phases."""
    started = time.time()
    done = run_command_line("tfbert.train", "--config", "configs/tiny.yaml", "--epochs=2", "--wandb_mode=disabled",
                            f"--output_dir={tmp_path}", "--run_name=cli")
    wall = time.time() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"run directory: {tmp_path / 'cli'}" in done.stdout.splitlines()
    timings = json.loads((tmp_path / "cli" / "timings.json").read_text())
    assert list(timings["seconds"])[0] == "start_up"
    assert 0 < timings["seconds"]["start_up"] < wall
    assert timings["seconds"]["start_up"] + timings["job_seconds"] < wall
    noise = [line for line in (done.stdout + done.stderr).splitlines() if TENSORFLOW_LOG_LINE.search(line)]
    assert noise == []
    # stderr: tfbert's own lines (notes, warnings) and its progress lines; stdout: Keras' epochs and the results.
    lines = done.stderr.splitlines()
    assert all(line.startswith(("tfbert: ", "evaluating valid: ")) for line in lines), done.stderr
    assert not [line for line in done.stdout.splitlines() if "warning" in line.lower()]
    devices = lines.index(next(line for line in lines if line.startswith("tfbert: devices: ")))
    plan = lines.index("tfbert: fit: 480 training rows in batches of 32 = 15 steps per epoch, 2 epochs = 30 steps")
    estimate = lines.index(next(line for line in lines if "per step (the mean of steps 3-20): about " in line))
    assert devices < plan < estimate
    assert " replica on " in lines[devices] and "; precision: " in lines[devices] and "(mixed_precision: " in lines[devices]
    assert " to go " in lines[estimate] and "Epoch 2/2" in done.stdout


@pytest.mark.slow
def test_verbose_brings_tensorflow_s_own_lines_back():
    """A command that loads TensorFlow and fails (the data file is missing, found once the
    job starts): with --verbose, TensorFlow's C++ lines as it loads are there again
    (test_bad_input checks that a failing command without --verbose prints one line)."""
    done = run_command_line("tfbert.train", "--verbose", "--data_path", "no-such-file.csv", "--encoder", "tiny")
    assert done.returncode == 2 and done.stderr.splitlines()[-1].startswith("tfbert: error: ")
    assert any(TENSORFLOW_LOG_LINE.search(line) for line in done.stderr.splitlines()), done.stderr[-3000:]


@pytest.mark.parametrize("preset, expected", [(None, "3"), ("0", "0")], ids=["unset", "the user's"])
def test_tensorflow_s_cpp_log_level_is_set_unless_the_user_set_it(preset, expected):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if preset is not None:
        environment["TF_CPP_MIN_LOG_LEVEL"] = preset
    done = subprocess.run([sys.executable, "-c", "import os, tfbert; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0 and done.stdout.split() == [expected], done.stderr


def test_tensorflow_s_python_records_below_error_show_only_when_verbose():
    import logging

    import tensorflow as tf

    from tfbert import progress

    class Kept(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger, kept = tf.get_logger(), Kept()
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)  # as in a notebook, where TensorFlow's logger says INFO
    try:
        progress.set_verbosity("normal")
        logger.info("Assets written to: model/assets")
        logger.warning("Compiled the loaded model, but the compiled metrics have yet to be built.")
        logger.error("a real error")
        assert kept.messages == ["a real error"]
        progress.set_verbosity("verbose")
        logger.info("Assets written to: export/assets")
        assert kept.messages[-1] == "Assets written to: export/assets"
    finally:
        progress.set_verbosity("normal")
        logger.removeHandler(kept)
        logger.setLevel(level)
