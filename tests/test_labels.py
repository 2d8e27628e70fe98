"""Labels: label maps from the labels seen or label_list, keys that match across types,
multi-label parsing, and a module that loads no pandas."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight
from conftest import data_spec, labelled_frame, raises_one_line, run_python, write_table

from tfbert.config import build_config
from tfbert.data.labels import LabelMap, class_weights, json_label, label_keys, parse_label_lists, require_one_label_type
from tfbert.data.splits import load_splits
from tfbert.data.statistics import dataset_stats
from tfbert.errors import TfbertError


@pytest.mark.parametrize(
    "raw, expected, task",
    [
        ([2, 0, 1, 0, 2, 1], (0, 1, 2), "multiclass"),
        ([True, False, False, True], (False, True), "binary"),
        (["pos", "neg", "neutral", "neg"], ("neg", "neutral", "pos"), "multiclass"),
        (["yes", "no", "no", "yes"], ("no", "yes"), "binary"),
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_labels_map_to_sorted_ids(tmp_path, raw, expected, task, suffix):
    path = write_table(pd.DataFrame({"text": [f"t{i}" for i in range(len(raw))], "label": raw}), tmp_path / f"d{suffix}")
    splits, label_map = load_splits(data_spec(path, valid_path=str(path)))
    assert label_map == LabelMap(labels=expected, task=task)
    assert splits["train"].labels.dtype == np.int32
    assert splits["train"].labels.tolist() == [expected.index(v) for v in raw]


def test_label_order_does_not_depend_on_row_order(tmp_path):
    frame = pd.DataFrame({"text": list("abcdef"), "label": ["c", "a", "b", "a", "c", "b"]})
    maps = [
        load_splits(data_spec(write_table(f, tmp_path / f"{i}.csv"), valid_path=str(tmp_path / f"{i}.csv")))[1]
        for i, f in enumerate([frame, frame.iloc[::-1]])
    ]
    assert maps[0] == maps[1]
    assert maps[0].labels == ("a", "b", "c")


@pytest.mark.parametrize(
    "label_list, expected",
    [
        (["pos", "neg"], ("pos", "neg")),
        ("[pos, neg, neutral]", ("pos", "neg", "neutral")),  # as a sweep or the command line passes it
    ],
)
def test_label_list_wins_and_fixes_order(tmp_path, label_list, expected):
    path = write_table(pd.DataFrame({"text": list("abcd"), "label": ["neg", "pos", "pos", "neg"]}), tmp_path / "d.csv")
    splits, label_map = load_splits(data_spec(path, valid_path=str(path), label_list=label_list))
    assert label_map.labels == expected
    assert splits["train"].labels.tolist() == [1, 0, 0, 1]


def test_label_list_of_strings_matches_int_labels(tmp_path):
    path = write_table(labelled_frame(2, 2), tmp_path / "d.csv")
    splits, label_map = load_splits(data_spec(path, valid_path=str(path), label_list='["1", "0"]'))
    assert splits["train"].labels.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("raw, label_list", [([True, False, False, True], "[0, 1]"),
                                             ([1, 0, 0, 1], "[false, true]"),
                                             ([True, False, False, True], '["False", "True"]')])
def test_bool_labels_match_a_label_list_of_zero_and_one_and_back(tmp_path, raw, label_list):
    path = write_table(pd.DataFrame({"text": list("abcd"), "label": raw}), tmp_path / "d.csv")
    splits, label_map = load_splits(data_spec(path, valid_path=str(path), label_list=label_list))
    assert label_map.task == "binary"
    assert splits["train"].labels.tolist() == [1, 0, 0, 1]


def test_label_outside_label_list(tmp_path):
    path = write_table(pd.DataFrame({"text": list("abc"), "label": ["neg", "pos", "neutral"]}), tmp_path / "d.csv")
    raises_one_line(
        load_splits,
        data_spec(path, valid_path=str(path), label_list=["neg", "pos"]),
        match="labels missing from label_list \\['neg', 'pos'\\]: 'neutral'; add them to label_list",
    )


def test_repeated_label_list(tmp_path):
    path = write_table(labelled_frame(2, 2), tmp_path / "d.csv")
    raises_one_line(load_splits, data_spec(path, label_list=[0, 1, 0]), match="repeated labels")


def test_single_class(tmp_path):
    path = write_table(labelled_frame(0, 6), tmp_path / "d.csv")
    raises_one_line(load_splits, data_spec(path), match="single label")


@pytest.mark.parametrize("value, keys", [(np.int64(1), ["1", "True"]), (1.0, ["1", "True"]), (False, ["False", "0"]),
                                         (2, ["2"]), ("1", ["1"])])
def test_label_keys_match_one_truth_value_spelt_either_way(value, keys):
    assert label_keys(value) == keys


def test_json_label_gives_what_json_keeps():
    assert [json_label(v) for v in (np.int64(3), 2.0, 2.5, np.bool_(True), "x")] == [3, 2, 2.5, True, "x"]
    assert type(json_label(np.int64(3))) is int and type(json_label(2.0)) is int


def test_encode_refuses_labels_the_map_does_not_know():
    label_map = LabelMap(labels=("neg", "pos"), task="binary")
    assert label_map.encode(["pos", "neg"], "f.csv").tolist() == [1, 0]
    raises_one_line(label_map.encode, ["pos", "meh"], "f.csv",
                    match=r"^f.csv: labels that are not among the known labels \['neg', 'pos'\]: 'meh'; remove those rows$")


def test_one_label_type_per_column():
    require_one_label_type([1, 2, 1.0], "label", "f.csv")
    raises_one_line(require_one_label_type, [1, "1", 2], "label", "f.csv",
                    match=r"^f.csv: column 'label' mixes numbers and text, e.g. 1 and '1'; write every label the same way$")


# Multi-label.

MULTI = [["a", "c"], ["b"], ["c", "a", "b"], []]
MULTI_HOT = [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]]


@pytest.mark.parametrize("values, expected", [
    (['["a"]', ' ["b", "c"]'], [["a"], ["b", "c"]]),
    ([("a",), np.array(["b"])], [["a"], ["b"]]),
    (['["a"]', "b"], None),  # one value is not a list: single-label data
    (['["a"', '["b"]'], None),  # not JSON
    (['[1]', '["b"]'], [[1], ["b"]]),
])
def test_parse_label_lists(values, expected):
    assert parse_label_lists(values) == expected


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_multilabel_detection(tmp_path, suffix):
    labels = [json.dumps(v) for v in MULTI] if suffix == ".csv" else MULTI  # CSV: JSON-string lists
    path = write_table(pd.DataFrame({"text": list("wxyz"), "label": labels}), tmp_path / f"m{suffix}")
    splits, label_map = load_splits(data_spec(path, valid_path=str(path)))
    assert label_map == LabelMap(labels=("a", "b", "c"), task="multilabel")
    assert splits["train"].labels.shape == (4, 3)
    assert splits["train"].labels.tolist() == MULTI_HOT
    stats = dataset_stats(splits, label_map)
    assert stats["train"]["label_distribution"] == {"a": 2, "b": 2, "c": 2}


@pytest.mark.parametrize(
    "label_map",
    [
        LabelMap(labels=(0, 1), task="binary"),
        LabelMap(labels=(False, True), task="binary"),
        LabelMap(labels=("neg", "neutral", "pos"), task="multiclass"),
        LabelMap(labels=("a", "b", "c"), task="multilabel"),
    ],
)
def test_label_map_json_round_trip(label_map):
    assert LabelMap.from_json(json.loads(json.dumps(label_map.to_json()))) == label_map


def test_the_label_stage_loads_no_pandas():
    """model, export, scoring and tracking reach LabelMap without the table readers' pandas."""
    done = run_python("""
        import json, sys
        import tfbert.data.labels
        from tfbert.data import LabelMap
        print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("pandas", "sklearn"))))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- class weights

BINARY = LabelMap(("negative", "positive"), "binary")
INTS = LabelMap((0, 1, 2), "multiclass")


def weights_for(class_weight, labels, label_map=BINARY):
    return class_weights(build_config({"class_weight": class_weight}).class_weight, np.asarray(labels), label_map)


def test_class_weight_null_means_no_weights():
    assert weights_for(None, [0, 1, 1]) is None


def test_balanced_class_weights_match_sklearn():
    labels = np.array([0] * 6 + [1] * 2 + [2] * 12)
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=labels)
    weights = weights_for("balanced", labels, INTS)
    assert sorted(weights) == [0, 1, 2]
    assert [weights[i] for i in range(3)] == pytest.approx(expected.tolist())
    assert weights[1] > weights[0] > weights[2]  # the rarest label weighs most


def test_balanced_needs_every_label_in_training():
    with pytest.raises(TfbertError, match="balanced"):
        weights_for("balanced", [0, 0, 2], INTS)


def test_class_weight_mapping_by_label_name_defaults_the_rest_to_one():
    assert weights_for({"positive": 16.0}, [0, 1]) == {0: 1.0, 1: 16.0}
    # int labels as YAML writes them, and as strings from the command line
    assert weights_for({2: 3.0}, [0, 1, 2], INTS) == {0: 1.0, 1: 1.0, 2: 3.0}
    assert weights_for("{2: 3, 0: 0.5}", [0, 1, 2], INTS) == {0: 0.5, 1: 1.0, 2: 3.0}


def test_class_weight_for_an_unknown_label_is_an_error():
    with pytest.raises(TfbertError, match="positve") as caught:
        weights_for({"positve": 2.0}, [0, 1])
    assert "negative" in str(caught.value) and "positive" in str(caught.value)


def test_class_weight_is_refused_for_multilabel_data():
    with pytest.raises(TfbertError, match="multi-label"):
        weights_for("balanced", np.eye(3), LabelMap(("a", "b", "c"), "multilabel"))
