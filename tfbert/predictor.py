"""Predictions from Python: a trained run's serving export behind a small class.

>>> import tfbert
>>> run = tfbert.train("configs/tiny.yaml", epochs=1, wandb_mode="disabled", output_dir=tmp)
15/15 - ... - loss: ... - val_loss: ...
>>> predictor = tfbert.Predictor.load(run.run_dir)
>>> predictor.labels
['0', '1']
>>> predictions = predictor.predict(["A wonderful film.", "A dull mess."])
>>> list(predictions.columns)
['text', 'predicted_label', 'probability_0', 'probability_1']
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import export
from tfbert.errors import TfbertError

DEFAULT_BATCH_SIZE = 256


class Predictor:
    """The serving export of a run (tokenization, classifier, label names and decision
    threshold), called on texts in batches, shortest first, the order kept.

    It gives the same numbers as `python -m tfbert.predict`, which runs on it.
    """

    def __init__(self, serving: export.LoadedExport, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise TfbertError("batch_size must be at least 1")
        self.serving = serving
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE) -> "Predictor":
        """The predictor of a run directory, or of an export/ folder."""
        return cls(export.load_serving_model(path), batch_size)

    @property
    def labels(self) -> list[str]:
        """Label names in id order: the probability columns' order."""
        return self.serving.label_map.names

    @property
    def takes_pairs(self) -> bool:
        """Whether the model was trained on text pairs (predict then needs `pairs`)."""
        return self.serving.takes_pairs

    def predict(self, texts: str | Sequence[str], pairs: str | Sequence[str] | None = None) -> pd.DataFrame:
        """One row per text: text (and text_pair), predicted_label, probability_<label> per label."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        inputs = pd.DataFrame({"text": texts})
        if pairs is not None:
            inputs["text_pair"] = [pairs] if isinstance(pairs, str) else list(pairs)
        return self.annotate(inputs, "text", "text_pair" if pairs is not None else None)

    def annotate(self, frame: pd.DataFrame, text_column: str, pair_column: str | None = None) -> pd.DataFrame:
        """`frame` plus predicted_label and probability_<label> columns for its `text_column`."""
        texts = frame[text_column].fillna("").astype(str).to_numpy()
        pairs = frame[pair_column].fillna("").astype(str).to_numpy() if pair_column else None
        labels, probabilities = export.serve_in_batches(self.serving, texts, pairs, self.batch_size)
        return export.with_predictions(frame, labels, probabilities, self.serving.label_map)
