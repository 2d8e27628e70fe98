"""Data: readers, label maps, cleaning, splits and the per-split statistics."""

import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import raises_one_line

from tfbert import data
from tfbert.config import build_config
from tfbert.data import DataSpec, LabelMap, Split, clean_text, dataset_stats, load_splits, read_table, text_stats

ROWS = pd.DataFrame(
    {
        "text": ['"Great" film, 5/5', 'He said "meh', "it's fine", "Bad, bad, bad."],
        "label": [1, 0, 1, 0],
    }
)


def write(frame, path):
    """`frame` written in the format `path`'s extension names."""
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":  # by hand, unquoted, as GLUE writes them
        lines = ["\t".join(frame.columns)] + ["\t".join(map(str, row)) for row in frame.itertuples(index=False)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix in (".jsonl", ".json"):
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    return path


def config_for(path, **values) -> DataSpec:
    """What load_splits reads from a config with these keys."""
    return DataSpec.from_config(build_config({"data_path": str(path), **values}))


def labelled(n_neg, n_pos, **extra):
    """n_neg rows labelled 0 then n_pos labelled 1, each text unique."""
    labels = [0] * n_neg + [1] * n_pos
    return pd.DataFrame({"text": [f"text number {i}" for i in range(len(labels))], "label": labels, **extra})


# Reading.


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".CSV"])
def test_readers_read_the_same_rows(tmp_path, suffix):
    path = write(ROWS, tmp_path / f"rows{suffix.lower()}")
    frame = read_table(path.rename(tmp_path / f"rows{suffix}"))  # the extension's case does not matter
    assert frame.to_dict("records") == ROWS.to_dict("records")


def test_tsv_keeps_quote_characters(tmp_path):
    # QUOTE_NONE: a leading or unbalanced quote is text, as in GLUE's TSVs.
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"quoted" start\t1\nunbalanced " quote\t0\n', encoding="utf-8")
    assert read_table(path)["text"].tolist() == ['"quoted" start', 'unbalanced " quote']


@pytest.mark.parametrize("name", ["rows.txt", "rows.xlsx", "rows"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("text,label\na,1\n", encoding="utf-8")
    raises_one_line(read_table, path, match="cannot read .*use one of .csv, .tsv, .jsonl")


def test_missing_file(tmp_path):
    raises_one_line(read_table, tmp_path / "absent.csv", match="data file not found: .*absent.csv")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.csv", "", "is empty"),
        ("empty.tsv", "", "is empty"),
        ("header.csv", "text,label\n", "has no rows"),
        ("empty.jsonl", "", "has no rows"),
        ("broken.parquet", "not parquet at all", "cannot read"),
    ],
)
def test_empty_or_unreadable_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    raises_one_line(read_table, path, match=match)


def test_missing_column_names_column_and_available(tmp_path):
    path = write(ROWS, tmp_path / "rows.csv")
    message = raises_one_line(load_splits, config_for(path, text_column="review"), match="'review' not found")
    assert "text_column" in message
    assert "columns are: text, label" in message


@pytest.mark.parametrize("column", ["text", "label"])
def test_missing_values_are_an_error(tmp_path, column):
    path = tmp_path / "nan.csv"
    frame = labelled(5, 5)
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = None
    frame.to_csv(path, index=False)
    raises_one_line(load_splits, config_for(path),
                    match=f"1 row with missing values or blank texts \\(1 in column '{column}'\\) at row 3; .*drop")


def test_missing_data_path():
    raises_one_line(load_splits, DataSpec.from_config(build_config({})), match="'data_path' is required")


# Labels.


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
    path = write(pd.DataFrame({"text": [f"t{i}" for i in range(len(raw))], "label": raw}), tmp_path / f"d{suffix}")
    splits, label_map = load_splits(config_for(path, valid_path=str(path)))
    assert label_map == LabelMap(labels=expected, task=task)
    assert splits["train"].labels.dtype == np.int32
    assert splits["train"].labels.tolist() == [expected.index(v) for v in raw]


def test_label_order_does_not_depend_on_row_order(tmp_path):
    frame = pd.DataFrame({"text": list("abcdef"), "label": ["c", "a", "b", "a", "c", "b"]})
    maps = [
        load_splits(config_for(write(f, tmp_path / f"{i}.csv"), valid_path=str(tmp_path / f"{i}.csv")))[1]
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
    path = write(pd.DataFrame({"text": list("abcd"), "label": ["neg", "pos", "pos", "neg"]}), tmp_path / "d.csv")
    splits, label_map = load_splits(config_for(path, valid_path=str(path), label_list=label_list))
    assert label_map.labels == expected
    assert splits["train"].labels.tolist() == [1, 0, 0, 1]


def test_label_list_of_strings_matches_int_labels(tmp_path):
    path = write(labelled(2, 2), tmp_path / "d.csv")
    splits, label_map = load_splits(config_for(path, valid_path=str(path), label_list='["1", "0"]'))
    assert splits["train"].labels.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("raw, label_list", [([True, False, False, True], "[0, 1]"),
                                             ([1, 0, 0, 1], "[false, true]"),
                                             ([True, False, False, True], '["False", "True"]')])
def test_bool_labels_match_a_label_list_of_zero_and_one_and_back(tmp_path, raw, label_list):
    path = write(pd.DataFrame({"text": list("abcd"), "label": raw}), tmp_path / "d.csv")
    splits, label_map = load_splits(config_for(path, valid_path=str(path), label_list=label_list))
    assert label_map.task == "binary"
    assert splits["train"].labels.tolist() == [1, 0, 0, 1]


def test_label_outside_label_list(tmp_path):
    path = write(pd.DataFrame({"text": list("abc"), "label": ["neg", "pos", "neutral"]}), tmp_path / "d.csv")
    raises_one_line(
        load_splits,
        config_for(path, valid_path=str(path), label_list=["neg", "pos"]),
        match="labels missing from label_list \\['neg', 'pos'\\]: 'neutral'; add them to label_list",
    )


def test_repeated_label_list(tmp_path):
    path = write(labelled(2, 2), tmp_path / "d.csv")
    raises_one_line(load_splits, config_for(path, label_list=[0, 1, 0]), match="repeated labels")


def test_single_class(tmp_path):
    path = write(labelled(0, 6), tmp_path / "d.csv")
    raises_one_line(load_splits, config_for(path), match="single label")


# Multi-label.

MULTI = [["a", "c"], ["b"], ["c", "a", "b"], []]
MULTI_HOT = [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_multilabel_detection(tmp_path, suffix):
    labels = [json.dumps(v) for v in MULTI] if suffix == ".csv" else MULTI  # CSV: JSON-string lists
    path = write(pd.DataFrame({"text": list("wxyz"), "label": labels}), tmp_path / f"m{suffix}")
    splits, label_map = load_splits(config_for(path, valid_path=str(path)))
    assert label_map == LabelMap(labels=("a", "b", "c"), task="multilabel")
    assert splits["train"].labels.shape == (4, 3)
    assert splits["train"].labels.tolist() == MULTI_HOT
    stats = dataset_stats(splits, label_map)
    assert stats["train"]["label_distribution"] == {"a": 2, "b": 2, "c": 2}


def test_multilabel_with_seeded_split(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [MULTI[i % 3] for i in range(20)]})
    splits, label_map = load_splits(config_for(write(frame, tmp_path / "m.jsonl"), train_split=0.5))
    assert label_map.task == "multilabel"
    assert (len(splits["train"]), len(splits["valid"])) == (10, 10)
    assert set(np.unique(splits["valid"].labels)) <= {0.0, 1.0}


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
    path = write(pd.DataFrame({"text": [raw, "ok", "bad"], "label": [1, 1, 0], "pair": [raw, "x", "y"]}), tmp_path / "d.jsonl")
    splits, _ = load_splits(config_for(path, valid_path=str(path), clean_text=clean, text_pair_column="pair"))
    expected = "Fine film, really" if clean else raw
    assert splits["train"].texts[0] == expected
    assert splits["train"].pairs[0] == expected


# Splits.


def label_counts(split):
    return np.bincount(split.labels, minlength=2)


@pytest.mark.parametrize(
    "train_split, valid_split, sizes",
    [(0.8, 1.0, (80, 20)), (0.8, 0.5, (80, 10)), (0.5, 0.2, (50, 10)), (0.9, 1.0, (90, 10))],
)
def test_stratified_split_sizes_and_proportions(tmp_path, train_split, valid_split, sizes):
    frame = labelled(70, 30)
    path = write(frame, tmp_path / "d.csv")
    splits, _ = load_splits(config_for(path, train_split=train_split, valid_split=valid_split))
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
    path = write(labelled(30, 30), tmp_path / "d.csv")

    def split_texts(seed):
        splits, _ = load_splits(config_for(path, train_split=0.7, seed=seed))
        return splits["train"].texts.tolist(), splits["valid"].texts.tolist()

    assert split_texts(1) == split_texts(1)
    assert split_texts(1) != split_texts(2)
    assert sorted(sum(split_texts(2), [])) == sorted(f"text number {i}" for i in range(60))


def test_train_split_one_needs_valid_path(tmp_path):
    path = write(labelled(5, 5), tmp_path / "d.csv")
    raises_one_line(load_splits, config_for(path, train_split=1.0), match="no rows to validate")


def test_too_few_rows_to_stratify(tmp_path):
    path = write(labelled(5, 1), tmp_path / "d.csv")
    raises_one_line(load_splits, config_for(path, train_split=0.5), match="label '1' has 1 row among the rows of .*d.csv")


def test_explicit_valid_and_test_files(tmp_path):
    train = write(labelled(6, 4), tmp_path / "train.csv")
    valid = write(pd.DataFrame({"text": ["v0", "v1", "v2"], "label": [1, 0, 1]}), tmp_path / "valid.tsv")
    test = write(pd.DataFrame({"text": ["t0", "t1"], "label": [0, 1]}), tmp_path / "test.parquet")
    # train_split is ignored once valid_path is given, even 1.0.
    splits, label_map = load_splits(config_for(train, valid_path=str(valid), test_path=str(test), train_split=1.0))
    assert label_map.labels == (0, 1)
    assert splits["train"].texts.tolist() == [f"text number {i}" for i in range(10)]
    assert splits["valid"].texts.tolist() == ["v0", "v1", "v2"]
    assert splits["valid"].labels.tolist() == [1, 0, 1]
    assert splits["test"].texts.tolist() == ["t0", "t1"]
    assert splits["test"].labels.tolist() == [0, 1]


def test_valid_file_label_not_in_training_labels(tmp_path):
    train = write(labelled(3, 3), tmp_path / "train.csv")
    valid = write(pd.DataFrame({"text": ["v"], "label": [2]}), tmp_path / "valid.csv")
    raises_one_line(load_splits, config_for(train, valid_path=str(valid)),
                    match="valid.csv: labels the training data never has: 2; ")


def test_missing_valid_file(tmp_path):
    train = write(labelled(3, 3), tmp_path / "train.csv")
    raises_one_line(load_splits, config_for(train, valid_path=str(tmp_path / "nope.csv")), match="not found")


def test_text_pair_column(tmp_path):
    frame = labelled(4, 4, question=[f"q{i}" for i in range(8)])
    path = write(frame, tmp_path / "d.csv")
    splits, label_map = load_splits(config_for(path, text_pair_column="question", train_split=0.5))
    for split in splits.values():
        by_text = dict(zip(frame["text"], frame["question"]))
        assert split.pairs.tolist() == [by_text[t] for t in split.texts]
    assert "text_pair" in dataset_stats(splits, label_map)["train"]


def test_missing_text_pair_column(tmp_path):
    path = write(labelled(4, 4), tmp_path / "d.csv")
    raises_one_line(load_splits, config_for(path, text_pair_column="question"), match="'question'.*text_pair_column")


# Statistics.

TEXTS = ["one", "two words", "a b c d e f g", "mixed   spacing here ", "x y", "the longest text of them all, by far"]


def summary(lengths):
    return {"mean": np.mean(lengths), "max": np.max(lengths), "p95": np.quantile(lengths, 0.95)}


def test_text_stats():
    words = [len(re.findall(r"\S+", t)) for t in TEXTS]
    chars = [sum(1 for _ in t) for t in TEXTS]
    stats = text_stats(np.array(TEXTS, dtype=object))
    for name, lengths in (("words", words), ("chars", chars)):
        expected = summary(lengths)
        assert stats[name]["max"] == expected["max"]
        assert stats[name]["mean"] == pytest.approx(expected["mean"], abs=0.005)
        assert stats[name]["p95"] == pytest.approx(expected["p95"], abs=0.005)


def test_dataset_stats(tmp_path):
    labels = ["pos", "neg", "neg", "neutral", "neg", "pos"]
    path = write(pd.DataFrame({"text": TEXTS, "label": labels}), tmp_path / "d.csv")
    valid = write(pd.DataFrame({"text": ["only one here"], "label": ["pos"]}), tmp_path / "v.csv")
    splits, label_map = load_splits(config_for(path, valid_path=str(valid)))
    stats = json.loads(json.dumps(dataset_stats(splits, label_map)))  # as written to data_stats.json
    assert stats["task"] == "multiclass"
    assert stats["labels"] == ["neg", "neutral", "pos"]
    assert stats["train"]["num_examples"] == len(TEXTS)
    assert stats["train"]["label_distribution"] == dict(sorted(Counter(labels).items()))
    assert stats["train"]["text"]["words"]["max"] == max(len(t.split()) for t in TEXTS)
    assert stats["valid"] == {
        "num_examples": 1,
        "label_distribution": {"neg": 0, "neutral": 0, "pos": 1},
        "text": {"words": {"mean": 3.0, "max": 3, "p95": 3.0}, "chars": {"mean": 13.0, "max": 13, "p95": 13.0}},
    }
    assert "text_pair" not in stats["train"]


# Built-in data set.


def test_toy_sentiment(tmp_path):
    frame = read_table("toy-sentiment")
    assert len(frame) == 600
    assert frame.equals(read_table("toy-sentiment"))
    # Learnable: every review holds an adjective of its own label and none of the other's.
    words = [set(re.findall(r"[a-z]+", t.lower())) for t in frame["text"]]
    for text_words, label in zip(words, frame["label"]):
        assert text_words & set(data._TOY_WORDS[label])
        assert not text_words & set(data._TOY_WORDS[1 - label])
    splits, label_map = load_splits(DataSpec("toy-sentiment", train_split=0.8))
    assert label_map.labels == (0, 1)
    assert (len(splits["train"]), len(splits["valid"])) == (480, 120)
    assert label_counts(splits["train"]).tolist() == [240, 240]
    assert label_counts(splits["valid"]).tolist() == [60, 60]


# --- named data sets fetched from PyPI (the fetch itself is tested in test_assets) ----


def test_movie_review_polarity_reads_the_pang_lee_csv(tmp_path, monkeypatch):
    csv = tmp_path / "polarity-en-pang&lee2.csv"
    csv.write_bytes('\ufeff"1","a gorgeous, witty film\n"\n"-1","it\'s "" dull "" and long\n"\n'.encode("utf-8"))
    monkeypatch.setattr(data.assets, "fetch", lambda name: {"movie-review-polarity": csv}[name])
    frame = data.read_table("movie-review-polarity")
    assert frame.to_dict("records") == [
        {"text": "a gorgeous, witty film", "label": "positive"},
        {"text": 'it\'s " dull " and long', "label": "negative"},
    ]


def test_bbc_news_reads_one_article_per_file_with_the_folder_as_label(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "tech").mkdir(parents=True)
    (root / "sports").mkdir()
    (root / "tech" / "001.txt").write_text("Ink helps drive democracy\n\nThe  Kyrgyz Republic votes.\n")
    (root / "sports" / "199.txt").write_bytes(b"Mutu fee\n\na \xa315.8m signing\n")  # Latin-1 pound sign
    monkeypatch.setattr(data.assets, "fetch", lambda name: {"bbc-news": root}[name])
    frame = data.read_table("bbc-news")
    assert frame.to_dict("records") == [
        {"text": "Mutu fee a \u00a315.8m signing", "label": "sports"},
        {"text": "Ink helps drive democracy The Kyrgyz Republic votes.", "label": "tech"},
    ]


def test_split_rows_keeps_texts_pairs_labels_and_frame_together():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "pair": ["x", "y", "z"], "label": [0, 1, 2]})
    split = Split("valid", frame, frame["text"].to_numpy(dtype=object), frame["pair"].to_numpy(dtype=object),
                  frame["label"].to_numpy(np.int32))
    taken = split.rows(np.array([2, 0]))
    assert taken.texts.tolist() == ["c", "a"] and taken.pairs.tolist() == ["z", "x"]
    assert taken.labels.tolist() == [2, 0] and taken.frame["text"].tolist() == ["c", "a"]
    assert taken.name == "valid" and len(taken) == 2


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
    frame = labelled(140, 60)
    path = write(frame, tmp_path / "d.csv")
    test = write(labelled(3, 2).assign(text=lambda f: "test " + f["text"]), tmp_path / "test.csv")
    splits, _ = load_splits(config_for(path, train_split=0.8, test_path=str(test), **keys))
    assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (*sizes, 5)  # test is never sampled
    full, _ = load_splits(config_for(path, train_split=0.8))
    by_text = dict(zip(frame["text"], frame["label"]))
    for name in ("train", "valid"):
        split = splits[name]
        assert set(split.texts) <= set(full[name].texts)  # a sample of the split, not of the file
        assert [by_text[t] for t in split.texts] == split.labels.tolist()
        assert np.abs(label_counts(split) - len(split) * np.array([0.7, 0.3])).max() <= 1  # proportions kept
    assert warnings_of(capsys) == []  # no rows left unused, validation no larger than training


def test_max_examples_sample_is_seeded(tmp_path, capsys):
    path = write(labelled(100, 100), tmp_path / "d.csv")

    def sample(seed):
        splits, _ = load_splits(config_for(path, train_split=0.5, seed=seed, max_train_examples=20, max_valid_examples=20))
        return splits["train"].texts.tolist(), splits["valid"].texts.tolist()

    assert sample(3) == sample(3)
    assert sample(3)[0] != sample(4)[0] and sample(3)[1] != sample(4)[1]


def test_sample_rows_falls_back_to_a_plain_sample():
    frame = labelled(30, 1)  # one row of label 1: too few to stratify
    sample = data.sample_rows(frame, 10, frame["label"].to_numpy(), seed=0)
    assert len(sample) == 10 and set(sample["text"]) <= set(frame["text"])
    multilabel = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": [["a", "b"][: 1 + i % 2] for i in range(20)]})
    sampled = data.sample_rows(multilabel, 5, None, seed=1)
    assert len(sampled) == 5 and sampled["text"].tolist() != data.sample_rows(multilabel, 5, None, seed=2)["text"].tolist()
    assert data.sample_rows(frame, 31, None, seed=0) is frame


def test_rows_neither_trained_nor_validated_on_are_counted(tmp_path, capsys):
    path = write(labelled(100, 100), tmp_path / "d.csv")
    splits, _ = load_splits(config_for(path, train_split=0.5, valid_split=0.25))  # demo.yaml's
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
    path = write(labelled(50, 50), tmp_path / "d.csv")
    if valid_path:
        keys = {"valid_path": str(write(labelled(100, 100).assign(text=lambda f: "v " + f["text"]), tmp_path / "v.csv")),
                **keys}
    splits, _ = load_splits(config_for(path, **keys))
    train, valid = len(splits["train"]), len(splits["valid"])
    assert valid > train
    assert warnings_of(capsys) == [f"tfbert: warning: the validation split ({valid} rows) is larger than the "
                                   f"training split ({train} rows); {fix}" + ("" if valid_path else
                                   " (0.9 trains on 90% and validates on the rest), or set max_valid_examples")]
