"""Importing tfbert selects Keras 2 for TensorFlow, or says clearly why it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, with TF_USE_LEGACY_KERAS unset unless given in `env`."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def last_json_line(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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


@pytest.mark.parametrize("preset", [None, "0"], ids=["unset", "set to 0"])
def test_importing_tfbert_first_selects_legacy_keras(preset):
    found = last_json_line(run_python(PROBE.format(before=""), TF_USE_LEGACY_KERAS=preset))
    assert found["env"] == "1" and found["tensorflow_loaded_by_import"] is False  # set before TensorFlow loads
    assert found["tf_keras_behind_tf_keras"] is True and found["model_is_tf_keras"] is True


def test_tensorflow_imported_first_with_legacy_keras_is_fine():
    found = last_json_line(run_python(PROBE.format(before="import tensorflow"), TF_USE_LEGACY_KERAS="1"))
    assert found["tf_keras_behind_tf_keras"] is True


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
    """)
    found = last_json_line(done)
    assert found["keras"].startswith("3.")
    assert found["type"] == "KerasVersionError"
    message = found["message"]
    assert "\n" not in message
    assert "Keras 3" in message and "TF_USE_LEGACY_KERAS=1" in message and "before importing TensorFlow" in message

    # Uncaught, as a user would meet it: the message is the last line, nothing after it.
    done = run_python("import tensorflow as tf; tf.keras.version(); import tfbert.train")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"tfbert.KerasVersionError: {message}"
