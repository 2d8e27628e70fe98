"""Named corpora: the offline toy set and the sets fetched from PyPI (the fetch itself is tested in test_assets)."""

import re

import pytest

from conftest import label_counts

from tfbert.data import corpora
from tfbert.data.splits import DataSpec, load_splits
from tfbert.data.tables import read_table


def test_toy_sentiment():
    frame = read_table("toy-sentiment")
    assert len(frame) == 600
    assert frame.equals(read_table("toy-sentiment"))
    # Learnable: every review holds an adjective of its own label and none of the other's.
    words = [set(re.findall(r"[a-z]+", t.lower())) for t in frame["text"]]
    for text_words, label in zip(words, frame["label"]):
        assert text_words & set(corpora._TOY_WORDS[label])
        assert not text_words & set(corpora._TOY_WORDS[1 - label])
    splits, label_map = load_splits(DataSpec("toy-sentiment", train_split=0.8))
    assert label_map.labels == (0, 1)
    assert (len(splits["train"]), len(splits["valid"])) == (480, 120)
    assert label_counts(splits["train"]).tolist() == [240, 240]
    assert label_counts(splits["valid"]).tolist() == [60, 60]


def test_every_named_corpus_is_a_data_path_name():
    assert list(corpora.CORPORA) == ["toy-sentiment", "movie-review-polarity", "movie-reviews", "bbc-news"]
    assert all(callable(loader) for loader in corpora.CORPORA.values())


@pytest.mark.parametrize("name", ["movie-review-polarity", "movie-reviews"])
def test_the_pang_lee_sets_read_their_csv(tmp_path, monkeypatch, name):
    csv = tmp_path / "polarity.csv"
    csv.write_bytes('\ufeff"1","a gorgeous, witty film\n"\n"-1","it\'s "" dull "" and long\n"\n'.encode("utf-8"))
    monkeypatch.setattr(corpora.assets, "fetch", lambda asset: {name: csv}[asset])  # each set reads its own asset
    frame = read_table(name)
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
    monkeypatch.setattr(corpora.assets, "fetch", lambda name: {"bbc-news": root}[name])
    frame = read_table("bbc-news")
    assert frame.to_dict("records") == [
        {"text": "Mutu fee a \u00a315.8m signing", "label": "sports"},
        {"text": "Ink helps drive democracy The Kyrgyz Republic votes.", "label": "tech"},
    ]
