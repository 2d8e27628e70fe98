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

`Predictor.load` also takes the W&B model artifact a training run logs, by reference
(`tfbert.Predictor.load("my-team/tfbert/demo-model:best")`): wandb.Api downloads it
(into ./artifacts/, W&B's cache serving later calls) and its export is loaded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert import export, file_predictions, progress
from tfbert.input_pipeline import as_strings, run_in_length_order
from tfbert.errors import TfbertError

DEFAULT_BATCH_SIZE = 256


def text_values(column: pd.Series) -> np.ndarray:
    """A column's texts as the export takes them: a missing one as "", anything else as its string."""
    return column.fillna("").astype(str).to_numpy()


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
        """The predictor of a run directory, of an export/ folder, or of a W&B model artifact
        reference `entity/project/name:alias` (or `project/name:alias`), which is downloaded
        with wandb.Api (W&B login and network needed). A local path that exists always wins
        over reading it as a reference; a reference that cannot be downloaded raises TfbertError."""
        return cls(export.load_serving_model(path), batch_size)

    @property
    def labels(self) -> list[str]:
        """Label names in id order: the probability columns' order."""
        return self.serving.label_map.names

    @property
    def source(self) -> str | None:
        """The export/ folder the predictor was loaded from (None when built otherwise)."""
        return None if self.serving.directory is None else str(self.serving.directory)

    @property
    def precision(self) -> str:
        """What the export computes in: float32, or the run's mixed_bfloat16 or mixed_float16
        (trained with export_precision: auto); its probabilities are float32 either way."""
        return self.serving.precision

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

    def annotate(self, frame: pd.DataFrame, text_column: str, pair_column: str | None = None,
                 quiet: bool = False) -> pd.DataFrame:
        """`frame` plus predicted_label and probability_<label> columns for its `text_column`
        (`quiet`: without a progress bar of its own)."""
        texts = text_values(frame[text_column])
        pairs = text_values(frame[pair_column]) if pair_column else None
        labels, probabilities = self.serve(texts, pairs, quiet=quiet)
        return export.with_predictions(frame, labels, probabilities, self.serving.label_map)

    def predict_file(self, source: str | Path, output: str | Path, text_column: str = "text",
                     pair_column: str | None = None, chunk_rows: int = file_predictions.DEFAULT_CHUNK_ROWS,
                     resume: bool = False) -> Path:
        """Predictions for every row of the file `source` (CSV, TSV, JSON Lines or Parquet)
        written to `output` (its format by extension) a chunk of `chunk_rows` rows at a time,
        so memory does not grow with the file: the input's columns, in its order, plus
        predicted_label and probability_<label>. `output` appears only once complete; after
        a kill, `resume=True` continues from the last finished chunk. Returns `output`.

            >>> path = predictor.predict_file("data/new.csv", "new-predictions.parquet")  # doctest: +SKIP
        """
        return file_predictions.predict_file(self, source, output, text_column, pair_column, chunk_rows, resume)

    def serve(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
              quiet: bool = False) -> tuple[list[str], np.ndarray]:
        """(predicted label names, probabilities [n, num_labels]) from the export, in the order given.

        Texts run shortest first, so that each batch, padded to its longest text, carries
        little padding. The export tokenizes each batch as it runs, so the progress that
        tfbert.progress shows (counted in texts) covers tokenization too.
        """
        if self.takes_pairs and pairs is None:
            raise TfbertError("this model was trained on text pairs; give the second segment too")
        texts = as_strings(texts)
        pairs = as_strings(pairs) if self.takes_pairs else None
        labels, probabilities = run_in_length_order(lambda order: self._serve_rows(texts, pairs, order, quiet),
                                                    texts, pairs)
        return labels.tolist(), probabilities

    def _serve_rows(self, texts: np.ndarray, pairs: np.ndarray | None, order: np.ndarray,
                    quiet: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(label names, probabilities) of the rows `order` names, in that order, batch by batch."""
        labels = np.empty(len(order), dtype=object)
        probabilities = np.zeros((len(order), self.serving.label_map.num_labels), dtype=np.float32)
        meter = contextlib.nullcontext(lambda count: None) if quiet else progress.meter(len(order), "predicting", unit="text")
        with meter as advance:
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                inputs = {"text": tf.constant(texts[rows])}
                if pairs is not None:
                    inputs["text_pair"] = tf.constant(pairs[rows])
                outputs = self.serving.signature(**inputs)
                batch = slice(start, start + len(rows))
                labels[batch] = [label.decode("utf-8") for label in outputs["label"].numpy()]
                probabilities[batch] = outputs["probabilities"].numpy()
                advance(len(rows))
        return labels, probabilities
