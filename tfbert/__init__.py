"""tfbert: fine-tune TF Hub BERT encoders for text classification.

The Python API, for notebooks and sweep functions; each name is the same job as the
command line's (`python -m tfbert.train`, `tfbert.evaluate`, `tfbert.predict`):

    >>> import tfbert
    >>> config = tfbert.load_config("configs/tiny.yaml", epochs=1, wandb_mode="disabled")
    >>> result = tfbert.train(config)                    # doctest: +SKIP
    >>> tfbert.Predictor.load(result.run_dir).predict(["a great film"])  # doctest: +SKIP

`hub.KerasLayer` is a Keras 2 layer, so every model here is built with `tf_keras`.
Importing tfbert therefore asks TensorFlow for its legacy Keras before TensorFlow is
imported; if TensorFlow is already loaded with Keras 3 behind `tf.keras`, we stop with
a message instead of failing later with an obscure layer-type error. Importing tfbert
itself is light: TensorFlow loads when an API name that needs it is first used.

Importing tfbert also keeps TensorFlow's own log lines out of a run's output: its C++
logs (TF_CPP_MIN_LOG_LEVEL=3 unless already set, read when TensorFlow loads: e.g. the
`failed call to cuInit` error line of every CPU-only run; a real failure still raises
an exception with its message) and its Python-side INFO and WARNING records
(`INFO:tensorflow:Assets written to: ...`). A command run with `--verbose`
(`python -m tfbert.train ... --verbose`) keeps both; `progress.set_verbosity("verbose")`
keeps the Python-side records.
"""

import importlib
import logging
import os
import sys
import types
import warnings
from typing import Any

__version__ = "0.4.0"


class KerasVersionError(ImportError):
    """TensorFlow was imported with Keras 3 behind tf.keras before tfbert."""


def _require_legacy_keras() -> None:
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        return
    import tensorflow as tf

    version = getattr(tf.keras, "version", lambda: "2")()
    if version.startswith("3"):
        raise KerasVersionError(
            "TensorFlow was imported with Keras 3 behind tf.keras; set the environment "
            "variable TF_USE_LEGACY_KERAS=1 (or import tfbert) before importing "
            "TensorFlow, then restart the Python process."
        )


def _verbose_command() -> bool:
    """Whether this process is `python -m tfbert.<command> ... --verbose`, seen before the
    command parses its arguments (and loads TensorFlow): while `-m` imports the command's
    package, sys.argv[0] is "-m"."""
    return sys.argv[:1] == ["-m"] and "--verbose" in sys.argv[1:]


def _shows_tensorflow_record(record: logging.LogRecord) -> bool:
    """TensorFlow's Python-side log records: errors always, the rest at --verbose."""
    progress = sys.modules.get("tfbert.progress")
    return record.levelno >= logging.ERROR or (progress is not None and progress.verbosity() == progress.VERBOSE)


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ log lines (level 3; a user's TF_CPP_MIN_LOG_LEVEL wins) and its
    Python-side records below ERROR stay out of the output, unless verbose."""
    if "tensorflow" not in sys.modules and not _verbose_command():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tensorflow_logger = logging.getLogger("tensorflow")  # the logger tf.get_logger() returns
    if _shows_tensorflow_record not in tensorflow_logger.filters:
        tensorflow_logger.addFilter(_shows_tensorflow_record)


_require_legacy_keras()
_quiet_tensorflow()
# tensorflow_hub 0.16.1 imports pkg_resources, whose deprecation warning says nothing a
# tfbert user can act on (pyproject pins setuptools below the release that removes it).
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

# The public API: name -> the module that defines it, imported on first use.
_API = {
    "load_config": "tfbert.config",
    "Config": "tfbert.config",
    "TfbertError": "tfbert.errors",
    "explore_data": "tfbert.exploration",
    "DataExploration": "tfbert.exploration",
    "train": "tfbert.training",
    "RunResult": "tfbert.training",
    "evaluate": "tfbert.evaluation",
    "EvaluationResult": "tfbert.evaluation",
    "Predictor": "tfbert.predictor",
    "runs": "tfbert.runs",  # a module: tfbert.runs.list_runs, tfbert.runs.clean
}
__all__ = ["KerasVersionError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'tfbert' has no attribute '{name}'")
    module = importlib.import_module(_API[name])
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


class _Package(types.ModuleType):
    """The tfbert package, whose API functions `train` and `evaluate` share their names with
    the command modules `tfbert/train.py` and `tfbert/evaluate.py`.

    Importing a submodule makes Python set the package attribute of the same name to the
    module; for those two names that is refused, so `tfbert.train(...)` is the function
    whatever was imported before. The command modules stay importable by their full name
    (`from tfbert.train import main`, `python -m tfbert.train`).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
