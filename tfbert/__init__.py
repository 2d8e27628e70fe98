"""tfbert: fine-tune TF Hub BERT encoders for text classification.

`hub.KerasLayer` is a Keras 2 layer, so every model here is built with `tf_keras`.
Importing tfbert therefore asks TensorFlow for its legacy Keras before TensorFlow is
imported; if TensorFlow is already loaded with Keras 3 behind `tf.keras`, we stop with
a message instead of failing later with an obscure layer-type error.
"""

import os
import sys
import warnings

__version__ = "0.1.0"


class KerasVersionError(ImportError):
    """TensorFlow was imported with Keras 3 behind tf.keras before tfbert."""


def _require_legacy_keras() -> None:
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines, not warnings
        return
    import tensorflow as tf

    version = getattr(tf.keras, "version", lambda: "2")()
    if version.startswith("3"):
        raise KerasVersionError(
            "TensorFlow was imported with Keras 3 behind tf.keras; set the environment "
            "variable TF_USE_LEGACY_KERAS=1 (or import tfbert) before importing "
            "TensorFlow, then restart the Python process."
        )


_require_legacy_keras()
# tensorflow_hub 0.16.1 imports pkg_resources, whose deprecation warning says nothing a
# tfbert user can act on (pyproject pins setuptools below the release that removes it).
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
