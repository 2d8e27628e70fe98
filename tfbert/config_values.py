"""How a config value, as a command line, a YAML file or the Python API gives it, becomes
its key's type: one converter for each kind of key in config's KEYS (int, float, bool, str,
data, list, class_weight, threshold), each raising ValueError with what it expected.

>>> from tfbert.config_values import CONVERTERS
>>> CONVERTERS["bool"]("yes"), CONVERTERS["int"]("8"), CONVERTERS["class_weight"]("{pos: 2}")
(True, 8, {'pos': 2.0})
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import yaml

if TYPE_CHECKING:
    import pandas as pd

TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}
NULL = {"null", "none", "~", ""}  # "null" from the command line, "" from an empty YAML value


def is_data_frame(value: Any) -> bool:
    """Whether `value` is a pandas DataFrame, without importing pandas: the commands read
    their config before pandas loads, and while it is not loaded nothing can be one."""
    return "pandas" in sys.modules and isinstance(value, sys.modules["pandas"].DataFrame)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a whole number, got {value!r}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _to_str(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


def _to_data(value: Any) -> str | pd.DataFrame:
    """A data file's path or a named set; the Python API may pass a DataFrame instead."""
    if is_data_frame(value):
        return value
    if isinstance(value, Path):
        return str(value)
    return _to_str(value)


def _to_list(value: Any) -> list:
    if isinstance(value, str):
        value = yaml.safe_load(value)
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    raise ValueError(f"expected a non-empty list such as [0, 1], got {value!r}")


def _to_class_weight(value: Any) -> str | dict:
    if isinstance(value, str):
        if value.strip().lower() == "balanced":
            return "balanced"
        value = yaml.safe_load(value)
    if isinstance(value, Mapping) and value:
        weights = {}
        for label, weight in value.items():
            weight = _to_float(weight)
            if weight <= 0:
                raise ValueError(f"weights must be > 0, got {weight} for label {label!r}")
            weights[label] = weight
        return weights
    raise ValueError(f"expected null, balanced or a mapping {{label: weight}}, got {value!r}")


def _to_threshold(value: Any) -> float | str:
    if isinstance(value, str) and value.strip().lower() == "f1":
        return "f1"
    number = _to_float(value)
    if not 0 < number < 1:
        raise ValueError(f"expected f1 or a number in (0, 1), got {value!r}")
    return number


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "threshold": _to_threshold,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "data": _to_data,
    "list": _to_list,
    "class_weight": _to_class_weight,
}
