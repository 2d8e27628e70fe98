"""The benchmarks' labelled sentences: SST-2's training file when present, else a generated set with its lengths."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sst2" / "train.tsv"
MAX_SEQ_LENGTH = 128

_WORDS = """
the a an and of to is in it that this with as for its film movie but be on you not he his
are by one more than has about all at from have who like so there can just story out up if
what good even most no into much ever will only or too does make time way characters funny
little well been work some love any comedy us enough performances life best director new
never also own very those drama could great would through their look character many people
cast both full bad something few off audience world seems may much often fun long script
feel better plot made though movies being before while still humor yet real nothing over
another here where end own action without another because interesting piece might why sense
old kind year hard heart family spirit minutes less ca n't 's ... -- `` '' entertaining
moving charming dull boring tedious clever smart predictable original visual beautifully
thriller documentary romantic sweet bittersweet mess flat lacks manages tries becomes
""".split()


def generated_sentences(count: int, rng: np.random.Generator) -> list[str]:
    """Sentences with SST-2's length profile (mean ~9.5 words, median 7, long tail to ~52)."""
    lengths = np.clip(np.rint(rng.gamma(shape=1.25, scale=7.6, size=count)), 1, 52).astype(int)
    vocab = np.array(_WORDS)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 0.8  # Zipf-like word frequencies
    weights /= weights.sum()
    texts = []
    for length in lengths:
        words = list(rng.choice(vocab, size=length, p=weights))
        if length > 6:
            words.insert(int(rng.integers(1, length)), ",")
        texts.append(" ".join(words) + (" ." if length > 10 else ""))
    return texts


def generated_frame(num_examples: int = 67_349, seed: int = 0):
    """A sentence/label frame of generated sentences (SST-2's size by default) with random 0/1 labels."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    texts = generated_sentences(num_examples, rng)
    return pd.DataFrame({"sentence": texts, "label": rng.integers(0, 2, size=num_examples)})


def read_frame(path: str):
    """A TSV or CSV file's sentence and label columns; exits naming any that are missing."""
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", quoting=3) if path.endswith(".tsv") else pd.read_csv(path)
    missing = {"sentence", "label"} - set(frame.columns)
    if missing:
        sys.exit(f"{path}: needs columns sentence and label (missing {', '.join(sorted(missing))})")
    return frame


def load_frame(data: str | None, limit: int | None, seed: int):
    """(frame with sentence and label columns, description), rows in a seeded random order."""
    if data is None and DEFAULT_DATA.is_file():
        data = str(DEFAULT_DATA)
    if data is None:
        frame, source = generated_frame(seed=seed), "generated (SST-2-like lengths)"
    else:
        frame, source = read_frame(data), data
    frame = frame[["sentence", "label"]].dropna()
    frame = frame.assign(sentence=frame["sentence"].astype(str), label=frame["label"].astype(int))
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if limit:
        frame = frame.iloc[:limit].reset_index(drop=True)
    return frame, source
