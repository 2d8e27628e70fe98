"""Labels: the label map a model is saved with, and the checks on a column's labels.

A label's key is its text once NumPy scalars are Python values and whole floats ints, so
1, 1.0 and np.int64(1) are one label; a bool and the 0 or 1 of the same truth value also
match each other. No pandas here: the model, export, scoring and tracking stages import
`LabelMap` without loading the table readers.

>>> from tfbert.data.labels import build_label_map, parse_label_lists
>>> label_map = build_label_map(["pos", "neg", "pos"], None, multilabel=False)
>>> label_map, label_map.encode(["neg", "pos"], "example").tolist()
(LabelMap(labels=('neg', 'pos'), task='binary'), [0, 1])
>>> parse_label_lists(['["a", "b"]', '["b"]'])
[['a', 'b'], ['b']]
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Sequence

import numpy as np

from tfbert.errors import TfbertError

TASKS = ("binary", "multiclass", "multilabel")


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """Label names in id order and the kind of head they call for; saved with the model."""

    labels: tuple
    task: str

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        return [str(label) for label in self.labels]

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "labels": list(self.labels)}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "LabelMap":
        return cls(labels=tuple(payload["labels"]), task=payload["task"])

    def encode(self, values: Sequence[Any], source: str) -> np.ndarray:
        """Label ids (int32, [n]) or multi-hot rows (float32, [n, num_labels])."""
        ids = {label_key(label): i for i, label in enumerate(self.labels)}
        multilabel = self.task == "multilabel"
        require_known_labels(values, ids, multilabel, f"{source}: labels that are not among the known labels "
                                                      f"{list(self.labels)}: {{labels}}; remove those rows")

        def lookup(value: Any) -> int:
            return next(ids[key] for key in label_keys(value) if key in ids)

        if multilabel:
            rows = np.zeros((len(values), self.num_labels), dtype=np.float32)
            for row, labels in enumerate(values):
                rows[row, [lookup(label) for label in labels]] = 1.0
            return rows
        return np.array([lookup(value) for value in values], dtype=np.int32)


def json_label(value: Any) -> Any:
    """`value` as JSON keeps a label: NumPy scalars as Python values, whole floats as ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def label_key(value: Any) -> str:
    return str(json_label(value))


def label_keys(value: Any) -> list[str]:
    """`value`'s key, then the key of the same truth value spelt the other way (True and 1,
    False and 0), so a bool column matches label_list: [0, 1] and an int one [false, true]."""
    value = json_label(value)
    keys = [label_key(value)]
    if isinstance(value, bool):
        keys.append(str(int(value)))
    elif isinstance(value, int) and value in (0, 1):
        keys.append(str(bool(value)))
    return keys


def flat_labels(values: Sequence[Any], multilabel: bool) -> list:
    """Every label of `values`, the lists of multi-label rows flattened."""
    return [label for labels in values for label in labels] if multilabel else list(values)


def unknown_labels(values: Iterable[Any], known: Iterable[str]) -> list:
    """The distinct labels among `values` whose keys are not in `known` (label keys)."""
    known = set(known)
    unknown = {}
    for value in values:
        if not known.intersection(label_keys(value)):
            unknown.setdefault(label_key(value), json_label(value))
    return list(unknown.values())


def _label_names(labels: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(label) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def require_known_labels(values: Sequence[Any], known: Iterable[str], multilabel: bool, message: str) -> None:
    """Refuse labels of `values` whose keys are not in `known`; `message` has {labels} for their names."""
    unknown = unknown_labels(flat_labels(values, multilabel), known)
    if unknown:
        raise TfbertError(message.replace("{labels}", _label_names(unknown)))


def _sorted_labels(values: Iterable[Any]) -> list:
    unique = {label_key(v): json_label(v) for v in values}
    try:
        return sorted(unique.values())
    except TypeError:  # mixed types: order by their text
        return [unique[k] for k in sorted(unique)]


def build_label_map(values: Sequence[Any], label_list: list | None, multilabel: bool) -> LabelMap:
    """Label ids in a fixed order: `label_list` when given, else the sorted labels seen."""
    labels = [json_label(v) for v in label_list] if label_list else _sorted_labels(flat_labels(values, multilabel))
    if len({label_key(label) for label in labels}) != len(labels):
        raise TfbertError(f"label_list has repeated labels: {labels}")
    if len(labels) < 2:
        raise TfbertError(
            f"the training data has a single label ({labels[0]!r}); a classifier needs at least two"
        )
    if multilabel:
        task = "multilabel"
    else:
        task = "binary" if len(labels) == 2 else "multiclass"
    return LabelMap(labels=tuple(labels), task=task)


def parse_label_lists(values: Sequence[Any]) -> list[list] | None:
    """A label column's values as lists of labels when every value is a list, or the JSON
    text of one (multi-label data); None for single-label data."""
    if all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return [list(v) for v in values]
    if all(isinstance(v, str) and v.lstrip().startswith("[") for v in values):
        try:
            parsed = [json.loads(v) for v in values]
        except json.JSONDecodeError:
            return None
        if all(isinstance(v, list) for v in parsed):
            return parsed
    return None


def require_one_label_type(labels: Sequence[Any], column: str, source: str) -> None:
    """Refuse a column mixing numbers (or bools) and strings: 1 and '1' would be one label, 2 and '10' sort apart."""
    texts, others = {}, {}
    for label in map(json_label, labels):
        (texts if isinstance(label, str) else others).setdefault(label_key(label), label)
    if texts and others:
        same = sorted(texts.keys() & others.keys())
        key_text, key_other = (same[0], same[0]) if same else (next(iter(texts)), next(iter(others)))
        raise TfbertError(f"{source}: column '{column}' mixes numbers and text, e.g. {others[key_other]!r} and "
                          f"{texts[key_text]!r}; write every label the same way")


def class_weights(class_weight: str | dict | None, labels: np.ndarray, label_map: LabelMap) -> dict[int, float] | None:
    """Keras' class_weight mapping (label id -> weight) for the class_weight key's value:
    None, "balanced" (sklearn's weights) or weights by label (the others weigh 1)."""
    if class_weight is None:
        return None
    if label_map.task == "multilabel":
        raise TfbertError("class_weight is not supported for multi-label data; set class_weight: null")
    if class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight  # here: only a balanced run loads it

        present = np.unique(labels)
        if len(present) < label_map.num_labels:
            raise TfbertError("class_weight: balanced needs every label in the training split")
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(i): float(w) for i, w in zip(present, weights)}
    ids = {str(label): i for i, label in enumerate(label_map.labels)}
    unknown = [label for label in class_weight if str(label) not in ids]
    if unknown:
        raise TfbertError(f"class_weight names labels that are not in the data: {unknown}; labels are {list(label_map.labels)}")
    weights = {i: 1.0 for i in range(label_map.num_labels)}
    weights.update({ids[str(label)]: weight for label, weight in class_weight.items()})
    return weights
