"""What the steps of one training run share (`Job`): the config, the splits and label map,
the encoder and tokenizer, the run directory and the distribution strategy, and the
batches it feeds fit and the final evaluation (see `tfbert.training`, which builds it in
`prepare`; a Job needs a loaded encoder and data, so this module has no short example:
`tfbert.train("configs/tiny.yaml", ...)` shows it at work).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub

from tfbert import distribution, input_pipeline, packers, resume, tracking
from tfbert.config import Config
from tfbert.data.labels import LabelMap
from tfbert.data.splits import Split
from tfbert.run_directory import RunDirectory
from tfbert.timings import Timings


@dataclasses.dataclass
class Job:
    """What the steps of one training run share."""

    config: Config
    strategy: tf.distribute.Strategy
    tracker: tracking.Tracker
    run: RunDirectory  # on a worker other than the chief, in a temporary folder
    shared_path: Path  # the chief's staging folder: backups and history all workers read
    splits: dict[str, Split]
    label_map: LabelMap
    stats: dict[str, Any]
    encoder: hub.KerasLayer  # the copy tfbert trains (encoder_copy) or, when it does not map, the SavedModel as given
    precision: str  # the Keras policy fit computes in: float32, mixed_bfloat16 or mixed_float16
    tokenizer_assets: tuple[str, bool]  # the encoder's vocab_file and do_lower_case
    packer: packers.Packer
    class_weight: dict[int, float] | None
    timings: Timings

    @property
    def backup_dir(self) -> Path:
        return self.shared_path / resume.BACKUP

    @property
    def is_chief(self) -> bool:
        return distribution.is_chief(self.strategy)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits["train"]) / self.config.train_batch_size)

    @property
    def validation_steps(self) -> int:
        return math.ceil(len(self.splits["valid"]) / self.config.eval_batch_size)

    def training_batches(self, start_epoch: int, start_batch: int) -> tf.data.Dataset:
        """The training batches of every epoch from (start_epoch, start_batch) on, each
        epoch shuffled by the seed and its number (see input_pipeline.training_batches), with
        class weights as sample weights; distributed when the strategy is."""
        config = self.config

        def make(share: input_pipeline.ReplicaShare | None = None) -> tf.data.Dataset:
            batches = input_pipeline.training_batches(self.splits["train"], self.packer, config.train_batch_size, config.seed,
                                                config.padding, config.epochs, start_epoch, start_batch, share=share)
            return input_pipeline.with_class_weights(batches, self.class_weight)
        return self._distributed(make)

    def validation_batches(self) -> tf.data.Dataset:
        """fit's per-epoch validation: it only sums loss and metrics, so it may bucket like training;
        the same batches every epoch, so kept in memory after the first when small (kept_in_memory)."""
        config, split = self.config, self.splits["valid"]

        def make(share: input_pipeline.ReplicaShare | None = None) -> tf.data.Dataset:
            batches = input_pipeline.make_dataset(split, self.packer, config.eval_batch_size, padding=config.padding,
                                                  share=share)
            return input_pipeline.kept_in_memory(batches, len(split), self.packer)
        return self._distributed(make)

    def _distributed(self, make: Callable[..., tf.data.Dataset]) -> tf.data.Dataset | tf.distribute.DistributedDataset:
        """`make()` as it is, or distributed: each worker builds its share with `make(share)`."""
        if distribution.is_distributed(self.strategy):
            return distribution.distribute(self.strategy, make)
        return make()

    def evaluation_batches(self, split: Split) -> tf.data.Dataset:
        """The final evaluation's batches, in the rows' order so predictions line up with them."""
        padding = "max" if self.config.padding == "max" else "batch"
        return input_pipeline.make_dataset(split, self.packer, self.config.eval_batch_size, padding=padding)
