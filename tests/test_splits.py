"""Splitting: bad rows, cleaning, stratified seeded cuts, explicit files, sampling and the warnings on split sizes."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import data_spec, label_counts, labelled_frame, raises_one_line, write_table

import tfbert
from tfbert.data.splits import Columns, DataSpec, LabelledRows, Split, clean_text, load_splits, sample_rows
from tfbert.data.statistics import dataset_stats


@pytest.mark.parametrize("column", ["text", "label"])
def test_missing_values_are_an_error(tmp_path, column):
    path = tmp_path / "nan.csv"
    frame = labelled_frame(5, 5)
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = None
    frame.to_csv(path, index=False)
    raises_one_line(load_splits, data_spec(path),
                    match=f"1 row with missing values or blank texts \\(1 in column '{column}'\\) at row 3; .*drop")


def test_missing_data_path():
    raises_one_line(load_splits, DataSpec.from_config(tfbert.load_config({})), match="'data_path' is required")


# Cleaning.


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("Great<br />movie.<br/><BR>  Really \t good\n", "Great movie. Really good"),
        ("no  tags   here ", "no tags here"),
        ("a<br    />b", "a b"),
        ("keeps <b>other</b> tags", "keeps <b>other</b> tags"),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize("clean", [True, False])
def test_clean_text_only_when_on(tmp_path, clean):
    raw = "Fine<br /><br />film,   really"
    path = write_table(pd.DataFrame({"text": [raw, "ok", "bad"], "label": [1, 1, 0], "pair": [raw, "x", "y"]}),
                       tmp_path / "d.jsonl")
    splits, _ = load_splits(data_spec(path, valid_path=str(path), clean_text=clean, text_pair_column="pair"))
    expected = "Fine film, really" if clean else raw
    assert splits["train"].texts[0] == expected
    assert splits["train"].pairs[0] == expected


# The rows parsed once.


def test_labelled_rows_parse_the_label_column_once_and_take_rows_together():
    frame = pd.DataFrame({"text": ["a<br/>b", "c", "d"], "q": ["x", "y", "z"], "label": ['["p"]', '["p", "n"]', "[]"]})
    rows = LabelledRows.parse(frame, Columns(pair="q", clean_text=True), "f.csv")
    assert (rows.source, rows.multilabel, rows.labels) == ("f.csv", True, [["p"], ["p", "n"], []])
    assert rows.texts.tolist() == ["a b", "c", "d"] and rows.pairs.tolist() == ["x", "y", "z"]
    taken = rows.take(np.array([2, 0]))
    assert taken.texts.tolist() == ["d", "a b"] and taken.pairs.tolist() == ["z", "x"]
    assert taken.labels == [[], ["p"]] and taken.frame["q"].tolist() == ["z", "x"] and len(taken) == 2
    assert rows.stratify_on(multilabel=True) is None
    single = LabelledRows.parse(frame.assign(label=[1, True, "1"]).iloc[:2], Columns(), "g.csv")
    assert not single.multilabel and single.stratify_on(multilabel=False).tolist() == ["1", "True"]


# Splits.


@pytest.mark.parametrize(
    "train_split, valid_split, sizes",
    [(0.8, 1.0, (80, 20)), (0.8, 0.5, (80, 10)), (0.5, 0.2, (50, 10)), (0.9, 1.0, (90, 10))],
)
def test_stratified_split_sizes_and_proportions(tmp_path, train_split, valid_split, sizes):
    frame = labelled_frame(70, 30)
    path = write_table(frame, tmp_path / "d.csv")
    splits, _ = load_splits(data_spec(path, train_split=train_split, valid_split=valid_split))
    train, valid = splits["train"], splits["valid"]
    assert (len(train), len(valid)) == sizes
    assert set(splits) == {"train", "valid"}
    # Label proportions preserved within one row of exact.
    for split in (train, valid):
        assert np.abs(label_counts(split) - len(split) * np.array([0.7, 0.3])).max() <= 1
    # Disjoint rows from the file, each keeping its own label.
    assert not set(train.texts) & set(valid.texts)
    by_text = dict(zip(frame["text"], frame["label"]))
    for split in (train, valid):
        assert [by_text[t] for t in split.texts] == split.labels.tolist()


def test_split_is_seeded(tmp_path):
    path = write_table(labelled_frame(30, 30), tmp_path / "d.csv")

    def split_texts(seed):
        splits, _ = load_splits(data_spec(path, train_split=0.7, seed=seed))
        return splits["train"].texts.tolist(), splits["valid"].texts.tolist()

    assert split_texts(1) == split_texts(1)
    assert split_texts(1) != split_texts(2)
    assert sorted(sum(split_texts(2), [])) == sorted(f"text number {i}" for i in range(60))


def test_train_split_one_needs_valid_path(tmp_path):
    path = write_table(labelled_frame(5, 5), tmp_path / "d.csv")
    raises_one_line(load_splits, data_spec(path, train_split=1.0), match="no rows to validate")


def test_too_few_rows_to_stratify(tmp_path):
    path = write_table(labelled_frame(5, 1), tmp_path / "d.csv")
    raises_one_line(load_splits, data_spec(path, train_split=0.5), match="label '1' has 1 row among the rows of .*d.csv")


def test_explicit_valid_and_test_files(tmp_path):
    train = write_table(labelled_frame(6, 4), tmp_path / "train.csv")
    valid = write_table(pd.DataFrame({"text": ["v0", "v1", "v2"], "label": [1, 0, 1]}), tmp_path / "valid.tsv")
    test = write_table(pd.DataFrame({"text": ["t0", "t1"], "label": [0, 1]}), tmp_path / "test.parquet")
    # train_split is ignored once valid_path is given, even 1.0.
    splits, label_map = load_splits(data_spec(train, valid_path=str(valid), test_path=str(test), train_split=1.0))
    assert label_map.labels == (0, 1)
    assert splits["train"].texts.tolist() == [f"text number {i}" for i in range(10)]
    assert splits["valid"].texts.tolist() == ["v0", "v1", "v2"]
    assert splits["valid"].labels.tolist() == [1, 0, 1]
    assert splits["test"].texts.tolist() == ["t0", "t1"]
    assert splits["test"].labels.tolist() == [0, 1]


def test_valid_file_label_not_in_training_labels(tmp_path):
    train = write_table(labelled_frame(3, 3), tmp_path / "train.csv")
    valid = write_table(pd.DataFrame({"text": ["v"], "label": [2]}), tmp_path / "valid.csv")
    raises_one_line(load_splits, data_spec(train, valid_path=str(valid)),
                    match="valid.csv: labels the training data never has: 2; ")


def test_missing_valid_file(tmp_path):
    train = write_table(labelled_frame(3, 3), tmp_path / "train.csv")
    raises_one_line(load_splits, data_spec(train, valid_path=str(tmp_path / "nope.csv")), match="not found")


def test_text_pair_column(tmp_path):
    frame = labelled_frame(4, 4, question=[f"q{i}" for i in range(8)])
    path = write_table(frame, tmp_path / "d.csv")
    splits, label_map = load_splits(data_spec(path, text_pair_column="question", train_split=0.5))
    for split in splits.values():
        by_text = dict(zip(frame["text"], frame["question"]))
        assert split.pairs.tolist() == [by_text[t] for t in split.texts]
    assert "text_pair" in dataset_stats(splits, label_map)["train"]


def test_missing_text_pair_column(tmp_path):
    path = write_table(labelled_frame(4, 4), tmp_path / "d.csv")
    raises_one_line(load_splits, data_spec(path, text_pair_column="question"), match="'question'.*text_pair_column")


def test_split_rows_keeps_texts_pairs_and_labels_together():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "pair": ["x", "y", "z"], "label": [0, 1, 2]})
    split = Split("valid", frame["text"].to_numpy(dtype=object), frame["pair"].to_numpy(dtype=object),
                  frame["label"].to_numpy(np.int32))
    taken = split.rows(np.array([2, 0]))
    assert taken.texts.tolist() == ["c", "a"] and taken.pairs.tolist() == ["z", "x"]
    assert taken.labels.tolist() == [2, 0]
    assert taken.name == "valid" and len(taken) == 2


def test_multilabel_with_seeded_split(tmp_path):
    multi = [["a", "c"], ["b"], ["c", "a", "b"]]
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [multi[i % 3] for i in range(20)]})
    splits, label_map = load_splits(data_spec(write_table(frame, tmp_path / "m.jsonl"), train_split=0.5))
    assert label_map.task == "multilabel"
    assert (len(splits["train"]), len(splits["valid"])) == (10, 10)
    assert set(np.unique(splits["valid"].labels)) <= {0.0, 1.0}


# Sampling big files (max_train_examples, max_valid_examples) and the warnings on split sizes.


def warnings_of(capsys) -> list[str]:
    """The warning lines on stderr; every other line must be a note saying which split was sampled."""
    lines = capsys.readouterr().err.splitlines()
    notes = [line for line in lines if not line.startswith("tfbert: warning: ")]
    assert all(re.fullmatch(r"tfbert: (training|validation) split: a stratified sample of [\d,]+ of its [\d,]+ rows "
                            r"\(max_(train|valid)_examples\)", line) for line in notes), notes
    return [line for line in lines if line not in notes]


@pytest.mark.parametrize(
    "keys, sizes",
    [({"max_train_examples": 40}, (40, 40)), ({"max_valid_examples": 10}, (160, 10)),
     ({"max_train_examples": 50, "max_valid_examples": 20}, (50, 20)),
     ({"max_train_examples": 1000, "max_valid_examples": 40}, (160, 40))],  # no-op: the splits are small enough
    ids=["train", "valid", "both", "no-op"],
)
def test_max_examples_sample_each_split_stratified(tmp_path, capsys, keys, sizes):
    frame = labelled_frame(140, 60)
    path = write_table(frame, tmp_path / "d.csv")
    test = write_table(labelled_frame(3, 2).assign(text=lambda f: "test " + f["text"]), tmp_path / "test.csv")
    splits, _ = load_splits(data_spec(path, train_split=0.8, test_path=str(test), **keys))
    assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (*sizes, 5)  # test is never sampled
    full, _ = load_splits(data_spec(path, train_split=0.8))
    by_text = dict(zip(frame["text"], frame["label"]))
    for name in ("train", "valid"):
        split = splits[name]
        assert set(split.texts) <= set(full[name].texts)  # a sample of the split, not of the file
        assert [by_text[t] for t in split.texts] == split.labels.tolist()
        assert np.abs(label_counts(split) - len(split) * np.array([0.7, 0.3])).max() <= 1  # proportions kept
    assert warnings_of(capsys) == []  # no rows left unused, validation no larger than training


def test_max_examples_sample_is_seeded(tmp_path, capsys):
    path = write_table(labelled_frame(100, 100), tmp_path / "d.csv")

    def sample(seed):
        splits, _ = load_splits(data_spec(path, train_split=0.5, seed=seed, max_train_examples=20, max_valid_examples=20))
        return splits["train"].texts.tolist(), splits["valid"].texts.tolist()

    assert sample(3) == sample(3)
    assert sample(3)[0] != sample(4)[0] and sample(3)[1] != sample(4)[1]


def test_sample_rows_falls_back_to_a_plain_sample():
    frame = labelled_frame(30, 1)  # one row of label 1: too few to stratify
    rows = LabelledRows.parse(frame, Columns(), "f.csv")
    sample = sample_rows(rows, 10, rows.stratify_on(multilabel=False), seed=0)
    assert len(sample) == 10 and set(sample.texts) <= set(frame["text"])
    multilabel = LabelledRows.parse(pd.DataFrame({"text": [f"t{i}" for i in range(20)],
                                                  "label": [["a", "b"][: 1 + i % 2] for i in range(20)]}), Columns(), "m")
    sampled = sample_rows(multilabel, 5, None, seed=1)
    assert len(sampled) == 5 and sampled.texts.tolist() != sample_rows(multilabel, 5, None, seed=2).texts.tolist()
    assert sample_rows(rows, 31, None, seed=0) is rows


def test_rows_neither_trained_nor_validated_on_are_counted(tmp_path, capsys):
    path = write_table(labelled_frame(100, 100), tmp_path / "d.csv")
    splits, _ = load_splits(data_spec(path, train_split=0.5, valid_split=0.25))  # demo.yaml's
    assert (len(splits["train"]), len(splits["valid"])) == (100, 25)
    assert warnings_of(capsys) == [
        f"tfbert: warning: {path}: 75 rows (37.5%) neither train nor validate (train_split 0.5, then valid_split 0.25 "
        "of the rest); set valid_split: 1.0 to validate on them"]


@pytest.mark.parametrize(
    "keys, valid_path, fix",
    [({"train_split": 0.1}, False, "raise train_split"),
     ({"train_split": 0.5, "max_train_examples": 30}, False, "raise train_split"),
     ({}, True, "set max_valid_examples to validate on a sample of it")],
    ids=["train_split", "max_train_examples", "valid_path"],
)
def test_a_validation_split_larger_than_training_warns(tmp_path, capsys, keys, valid_path, fix):
    path = write_table(labelled_frame(50, 50), tmp_path / "d.csv")
    if valid_path:
        keys = {"valid_path": str(write_table(labelled_frame(100, 100).assign(text=lambda f: "v " + f["text"]),
                                              tmp_path / "v.csv")), **keys}
    splits, _ = load_splits(data_spec(path, **keys))
    train, valid = len(splits["train"]), len(splits["valid"])
    assert valid > train
    assert warnings_of(capsys) == [f"tfbert: warning: the validation split ({valid} rows) is larger than the "
                                   f"training split ({train} rows); {fix}" + ("" if valid_path else
                                   " (0.9 trains on 90% and validates on the rest), or set max_valid_examples")]
