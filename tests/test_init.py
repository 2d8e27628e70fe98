"""Importing tfbert selects Keras 2 for TensorFlow, or says clearly why it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

import tfbert


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, with TF_USE_LEGACY_KERAS unset unless given in `env`."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=300)


def last_json_line(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_keras_3_is_installed_so_the_guard_matters():
    assert metadata.version("keras").startswith("3.")  # a TensorFlow dependency: tf.keras would be Keras 3
    assert metadata.version("tf_keras").startswith("2.")


def test_this_session_runs_keras_2_behind_tf_keras():
    import tensorflow as tf
    import tf_keras

    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    assert tf.keras.layers.Dense is tf_keras.layers.Dense
    assert issubclass(tfbert.KerasVersionError, ImportError)


PROBE = """
    import json, os, sys
    {before}
    import tfbert
    import tensorflow as tf
    import tf_keras
    print(json.dumps({{
        "env": os.environ.get("TF_USE_LEGACY_KERAS"),
        "tf_keras_behind_tf_keras": tf.keras.layers.Dense is tf_keras.layers.Dense,
        "keras_version": tf_keras.__version__,
        "model_is_tf_keras": isinstance(tf.keras.Sequential(), tf_keras.Model),
    }}))
"""


@pytest.mark.parametrize("preset", [None, "0"], ids=["unset", "set to 0"])
def test_importing_tfbert_first_selects_legacy_keras(preset):
    found = last_json_line(run_python(PROBE.format(before=""), TF_USE_LEGACY_KERAS=preset))
    assert found["env"] == "1"
    assert found["tf_keras_behind_tf_keras"] is True and found["model_is_tf_keras"] is True
    assert found["keras_version"].startswith("2.")


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
