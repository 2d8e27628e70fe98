"""Scoring a corpus on Apache Beam: `ExportModelHandler`, a RunInference model handler over a
tfbert serving export, and `score_files`, the pipeline `python -m tfbert.beam_predict` runs
(shards of CSV, TSV, JSON Lines or Parquet rows, the export, then Parquet or CSV shards). The
same pipeline runs on Beam's DirectRunner on one machine and on Dataflow, Flink or Spark
(docs/guides/scaling-out.md). It needs the beam extra: `pip install -e ".[beam]"`.

Each element is a row, a dict of column names to values; the handler adds `predicted_label`
and one `probability_<label>` per label and leaves every other column as it came, so an id
column joins the predictions back. Beam keeps no order between rows.

    >>> import apache_beam as beam  # doctest: +SKIP
    >>> from apache_beam.ml.inference.base import RunInference
    >>> from tfbert.beam import ExportModelHandler
    >>> with beam.Pipeline() as pipeline:
    ...     rows = pipeline | beam.Create([{"id": 7, "text": "A wonderful film."}])
    ...     _ = rows | RunInference(ExportModelHandler("runs/demo/export")) | beam.Map(print)
    {'id': 7, 'text': 'A wonderful film.', 'predicted_label': 'positive', 'probability_negative': 0.03..., ...}
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from tfbert.errors import TfbertError

_root = logging.getLogger()
_level = _root.level
_root.setLevel(logging.ERROR)  # importing Beam without its gcp extra warns that BigQuery's clients are missing
try:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import ModelHandler, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError:
    raise TfbertError('scoring on Apache Beam needs its extra: pip install -e ".[beam]"') from None
finally:
    _root.setLevel(_level)

from tfbert.data.chunks import TableChunks  # noqa: E402
from tfbert.file_predictions import PAIRS_NEEDED, checked_chunk, require_text_columns  # noqa: E402
from tfbert.predictor import DEFAULT_BATCH_SIZE, Predictor, text_values  # noqa: E402

DEFAULT_CHUNK_ROWS = 10_000  # rows a shard's reader hands on at a time
FORMATS = {"parquet": ".parquet", "csv": ".csv"}


class _WithoutMemoryWarning(logging.Filter):
    """Beam's RunInference warns on every bundle that it cannot read memory use when PyTorch is
    not installed (it imports the resource module together with a PyTorch-only module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()


def quiet_logs(pipeline_args: Sequence[str]) -> list[str]:
    """`pipeline_args` with the workers' log level at ERROR unless they set one, and Beam's
    warning about memory use on every bundle left out: Beam's info lines stay out of a run's output."""
    for name in ("", "apache_beam.runners.portability.local_job_service"):
        logging.getLogger(name).addFilter(_WithoutMemoryWarning())
    if any(arg.startswith("--default_sdk_harness_log_level") for arg in pipeline_args):
        return list(pipeline_args)
    return [*pipeline_args, "--default_sdk_harness_log_level=ERROR"]


def is_remote(path: str) -> bool:
    """Whether `path` is on a file system other than the local one (gs://, hdfs://, s3://, ...)."""
    return FileSystems.get_scheme(path) is not None


def _copy(source: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


def local_copy(path: str, folder: str | Path | None = None) -> Path:
    """`path` when it is local; otherwise its file, or its folder's files, copied into `folder`
    (default: a new temporary folder) through Beam's FileSystems: how an export or a shard on
    GCS or HDFS reaches a worker."""
    if not is_remote(path):
        return Path(path)
    folder = tempfile.mkdtemp(prefix="tfbert-beam-") if folder is None else folder
    base = path.rstrip("/")
    name = base.rsplit("/", 1)[-1]
    inside = FileSystems.match([base + "/**"])[0].metadata_list
    if not inside:
        _copy(base, Path(folder) / name)
    for file in inside:
        _copy(file.path, Path(folder) / name / file.path[len(base) + 1:])
    return Path(folder) / name


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame`'s rows as dicts of plain Python values, a missing value as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def shard_rows(path: str, text_column: str = "text", pair_column: str | None = None,
               chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    """The rows of one shard (read as `python -m tfbert.predict` reads a file), `chunk_rows` at a
    time; a shard without the text (or pair) column is refused."""
    with tempfile.TemporaryDirectory(prefix="tfbert-shard-") as folder:
        for frame in TableChunks(local_copy(path, folder), chunk_rows):
            require_text_columns(frame, path, text_column, pair_column)
            yield from records(frame)


def _texts(batch: Sequence[dict[str, Any]], column: str) -> Any:
    return text_values(pd.Series([row.get(column) for row in batch], dtype=object))


class ExportModelHandler(ModelHandler[dict, dict, Predictor]):
    """A Beam ModelHandler over a tfbert serving export (a run directory or its export/ folder,
    local or on a file system Beam reads, such as gs://): each worker loads it once as a
    `tfbert.Predictor` and scores batches of up to `batch_size` rows, shortest texts first."""

    def __init__(self, model: str, text_column: str = "text", pair_column: str | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(max_batch_size=batch_size)
        self.model, self.text_column, self.pair_column, self.batch_size = str(model), text_column, pair_column, batch_size

    def load_model(self) -> Predictor:
        predictor = Predictor.load(local_copy(self.model), self.batch_size)
        if predictor.takes_pairs and self.pair_column is None:
            raise TfbertError(PAIRS_NEEDED)
        return predictor

    def run_inference(self, batch: Sequence[dict], model: Predictor, inference_args: dict | None = None) -> list[dict]:
        pairs = _texts(batch, self.pair_column) if self.pair_column else None
        labels, probabilities = model.serve(_texts(batch, self.text_column), pairs, quiet=True)
        names = [f"probability_{name}" for name in model.labels]
        return [{**row, "predicted_label": label, **dict(zip(names, map(float, row_probabilities)))}
                for row, label, row_probabilities in zip(batch, labels, probabilities)]

    def get_num_bytes(self, batch: Sequence[dict]) -> int:
        return sum(len(str(row.get(self.text_column) or "")) for row in batch)

    def get_metrics_namespace(self) -> str:
        return "tfbert"


def output_columns(first_rows: pd.DataFrame, labels: Sequence[str]) -> list[str]:
    """The input's columns, then predicted_label and probability_<label> per label."""
    return [*map(str, first_rows.columns), "predicted_label", *(f"probability_{name}" for name in labels)]


def parquet_schema(first_rows: pd.DataFrame, labels: Sequence[str]) -> Any:
    """The output's Parquet schema: the input columns' types as its first rows have them (a column
    empty there is text), the label as text and the probabilities as float32, as tfbert.predict writes them."""
    import pyarrow as pa

    carried = pa.Schema.from_pandas(first_rows, preserve_index=False)
    fields = [pa.field(field.name, pa.string() if pa.types.is_null(field.type) else field.type) for field in carried]
    fields += [pa.field("predicted_label", pa.string())] + [pa.field(f"probability_{name}", pa.float32()) for name in labels]
    return pa.schema(fields)


def csv_line(row: dict[str, Any], columns: Sequence[str]) -> str:
    """One CSV line (no line ending) of `row`'s values in `columns`' order, None as an empty field."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if row.get(name) is None else row[name] for name in columns])
    return buffer.getvalue()


def writer(output_prefix: str, output_format: str, first_rows: pd.DataFrame, labels: Sequence[str]) -> Any:
    """The Beam sink of the output shards: OUTPUT_PREFIX-SSSSS-of-NNNNN.parquet (or .csv). Beam
    writes them under temporary names and renames them once all are written."""
    suffix = FORMATS[output_format]
    if output_format == "parquet":
        return beam.io.WriteToParquet(output_prefix, parquet_schema(first_rows, labels), file_name_suffix=suffix)
    columns = output_columns(first_rows, labels)
    return (beam.Map(csv_line, columns)
            | beam.io.WriteToText(output_prefix, file_name_suffix=suffix, header=csv_line(dict(zip(columns, columns)), columns)))


def matched_shards(pattern: str) -> list[str]:
    """The files `pattern` matches (a path, or a glob such as data/part-*.csv or gs://bucket/*.parquet)."""
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # Beam raises BeamIOError for a pattern it cannot list
        raise TfbertError(f"cannot list --input {pattern}: {str(err).splitlines()[0]}") from None
    if not matched:
        raise TfbertError(f"--input {pattern} matches no file")
    return sorted(file.path for file in matched)


def written_shards(output_prefix: str, output_format: str) -> list[str]:
    """The shards a run with this prefix wrote (PREFIX-SSSSS-of-NNNNN.<format>)."""
    matched = FileSystems.match([f"{output_prefix}-*-of-*{FORMATS[output_format]}"])[0].metadata_list
    return sorted(file.path for file in matched)


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """A TfbertError raised in a worker, which Beam reports inside its own error (or as itself with
    "[while running 'step']" added), as the one line it is."""
    try:
        yield
    except Exception as err:
        message = str(err)
        if not isinstance(err, TfbertError):
            if "TfbertError: " not in message:
                raise
            message = message.split("TfbertError: ", 1)[1].splitlines()[0]
        raise TfbertError(re.sub(r" \[while running '[^']*'\].*$", "", message.strip(" '\""))) from None

def score_files(model: str, input_pattern: str, output_prefix: str, text_column: str = "text",
                pair_column: str | None = None, output_format: str = "parquet", batch_size: int = DEFAULT_BATCH_SIZE,
                chunk_rows: int = DEFAULT_CHUNK_ROWS, pipeline_args: Sequence[str] | PipelineOptions = ()) -> list[str]:
    """Score every row of the shards `input_pattern` matches into OUTPUT_PREFIX-SSSSS-of-NNNNN
    shards on the runner `pipeline_args` name (Beam's DirectRunner by default), and return their
    paths. The export, the columns and the output prefix are checked here, before Beam starts."""
    if output_format not in FORMATS:
        raise TfbertError(f"unknown output format {output_format!r}; use one of {', '.join(FORMATS)}")
    if batch_size < 1 or chunk_rows < 1:
        raise TfbertError("--batch-size and --chunk-rows must be at least 1")
    shards = matched_shards(input_pattern)
    earlier = written_shards(output_prefix, output_format)
    if earlier:
        raise TfbertError(f"{output_prefix} already has shards ({earlier[0]}, ...); "
                          "choose another --output or delete them")
    handler = ExportModelHandler(model, text_column, pair_column, batch_size)
    predictor = handler.load_model()
    with tempfile.TemporaryDirectory(prefix="tfbert-shard-") as folder:
        first_rows = checked_chunk(next(iter(TableChunks(local_copy(shards[0], folder), 1000))), shards[0], text_column,
                                   pair_column, predictor)
    options = pipeline_args if isinstance(pipeline_args, PipelineOptions) else PipelineOptions(list(pipeline_args))
    with worker_errors(), beam.Pipeline(options=options) as pipeline:
        _ = (pipeline
             | "shards" >> beam.Create(shards)
             | "spread the shards" >> beam.Reshuffle()
             | "read" >> beam.FlatMap(shard_rows, text_column, pair_column, chunk_rows)
             | "score" >> RunInference(handler)
             | "write" >> writer(output_prefix, output_format, first_rows, predictor.labels))
    return written_shards(output_prefix, output_format)
