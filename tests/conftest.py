"""Shared fixtures and helpers: an offline tiny encoder, a cache that lives in the test's temp
dir, synthetic data, and subprocess helpers. The tricky texts live in texts.py, the hooked
training process in hooked_train.py, encoders as Hugging Face and TF Hub write them in
encoder_sources.py. What several tests read is built once a session (or a module) and
registered with shared_folders.shared, which fails a test that writes into it; a test that
must write works on own_copy(folder, tmp_path)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

# Under pytest-xdist (`-n 3`) each worker keeps to one core's worth of TensorFlow's op
# threads, and so do the processes its tests start (they inherit the environment), so
# that the workers share the machine's cores instead of each asking for all of them
# (3 workers on 2 cores measured faster than 2: docs/contributing.md). Set before TensorFlow starts.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import yaml

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import hub_format
from tfbert.data.splits import Split
from tfbert.errors import TfbertError

from encoder_sources import write_hf_checkpoint, write_tfhub_export  # noqa: F401  (for the tests)
from shared_folders import built_once, session_root, shared, shared_folders_stay_as_built  # noqa: F401  (autouse)


ROOT = Path(__file__).parents[1]

# What a finished run directory holds (README, "The run directory").
RUN_FILES = sorted([
    "config.yaml", "data_stats.json", "history.csv", "metrics.json", "classification_report.txt",
    "confusion_matrix.json", "export", "label_map.json", "model", "plots", "timings.json",
])


def raises_one_line(func, *args, match: str) -> str:
    """func(*args) raises a TfbertError whose one-line message matches `match`; the message."""
    with pytest.raises(TfbertError, match=match) as info:
        func(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def is_note(line: str) -> bool:
    """Whether a line of stderr is one of tfbert's notes on what a run does (progress.note:
    its devices, its steps), which may come before a failure: 'tfbert: ...' but neither an
    error nor a warning."""
    return line.startswith("tfbert: ") and not line.startswith(("tfbert: error: ", "tfbert: warning: "))


def command_error(status: int, stderr: str, stdout: str | None = None) -> str:
    """The message of a command that refused its input: asserts exit status 2, a single line
    'tfbert: error: ...' on stderr with no traceback, after nothing but tfbert's notes (see
    is_note) and, when `stdout` is given, nothing on it."""
    assert status == 2, stderr
    lines = stderr.splitlines(keepends=True)
    assert lines and all(is_note(line) for line in lines[:-1]), stderr
    error = lines[-1]
    assert error.startswith("tfbert: error: ") and error.endswith("\n"), stderr
    assert "Traceback" not in stderr
    if stdout is not None:
        assert stdout == ""
    return error.removeprefix("tfbert: error: ").removesuffix("\n")


@pytest.fixture(scope="session", autouse=True)
def tfbert_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep `encoder: tiny`, cached assets and W&B's files out of the user's home (the workers share the
    cache, as processes on one machine do); W&B is off unless a test turns it on (wandb_mode: offline)."""
    (cache := session_root(tmp_path_factory) / "tfbert-cache").mkdir(exist_ok=True)
    wandb_home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBERT_CACHE", str(cache))
        patch.setenv("WANDB_MODE", "disabled")
        patch.setenv("WANDB_SILENT", "true")
        patch.delenv("WANDB_API_KEY", raising=False)
        for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
            patch.setenv(name, str(wandb_home / name.lower()))
        yield cache


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small random TF Hub-format BERT encoder, written once per test session: one layer (`encoder: tiny`
    keeps two), so every run over it traces, saves and exports fewer ops. Its dropout is 0.1."""
    return str(built_once(tmp_path_factory, "tiny-encoder", functools.partial(hub_format.write_tiny_encoder, num_layers=1)))


@pytest.fixture(scope="session")
def tiny_encoder_without_dropout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_encoder without dropout: for numbers compared exactly (strategies, the copy's gradients)."""
    return built_once(tmp_path_factory, "tiny-no-dropout", functools.partial(hub_format.write_tiny_encoder, num_layers=1,
                                                                              dropout_rate=0.0))


@pytest.fixture
def disabled_wandb_run():
    """A disabled W&B run: what W&B's Keras callbacks need to exist (wandb.run), logging nothing."""
    import wandb

    run = wandb.init(mode="disabled")
    yield run
    run.finish()


@pytest.fixture
def hf_checkpoint():
    """write_hf_checkpoint(directory, seed=0, prefix="", gamma_beta=False, dropout=0.1) -> tensors by HF name."""
    return write_hf_checkpoint


@pytest.fixture(scope="session")
def release_0_2_0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What tfbert 0.2.0 wrote (tests/data/README.md): run-0.2.0/ and tiny-encoder-0.2.0/."""
    import tarfile

    folder = tmp_path_factory.mktemp("release-0.2.0")
    with tarfile.open(ROOT / "tests" / "data" / "release-0.2.0.tar.xz") as archive:
        archive.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return shared(folder)


@pytest.fixture(scope="session")
def tfhub_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """write_tfhub_export's encoder (dropout 0.1 inside), written once per test session in
    a fresh process, so that no seed set by an earlier test reaches its dropout ops."""
    def build(folder: Path) -> None:
        code = f"from pathlib import Path; import encoder_sources; encoder_sources.write_tfhub_export(Path({str(folder)!r}))"
        done = run_python(code, timeout=300, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
        assert done.returncode == 0, done.stderr[-3000:]
    return built_once(tmp_path_factory, "tfhub-encoder", build) / "encoder"


@pytest.fixture(scope="session")
def pair_export(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: str):
    """An untrained binary classifier over text pairs and its serving export (threshold 0.3); its head puts every
    probability near 0.4, between 0.3 and 0.5, so the labels show which threshold the export applies."""
    from tfbert import encoders, export, model, packers
    from tfbert.data.labels import LabelMap

    label_map = LabelMap(("different", "same"), "binary")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    head = classifier.get_layer("output")
    kernel = np.random.default_rng(0).normal(0, 0.3, head.kernel.shape).astype(np.float32)
    head.set_weights([kernel, np.full(1, np.log(0.4 / 0.6), np.float32)])
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=24)
    directory = export.save_serving_model(classifier, packer, label_map, 0.3,
                                          tmp_path_factory.mktemp("pairs") / "export", with_pairs=True)
    return classifier, packer, label_map, shared(directory)


@pytest.fixture(scope="module")
def tokenizer(tiny_vocab_file):
    """FullTokenizer over the tiny encoder's vocabulary (the py_function packer's)."""
    from tfbert import packers

    return packers.load_tokenizer(tiny_vocab_file, True)


@pytest.fixture(scope="module")
def tiny_vocab_file(tiny_encoder) -> str:
    """The tiny encoder's vocab_file (an uncased vocabulary)."""
    from tfbert import encoders

    vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(tiny_encoder, trainable=False))
    assert do_lower_case is True
    return vocab_file


def own_copy(folder: Path, tmp_path: Path) -> Path:
    """A copy of a shared fixture's folder in the test's own tmp_path, for a test that writes into it
    (shared_folders: no test writes into what another test reads)."""
    return Path(shutil.copytree(folder, tmp_path / Path(folder).name))


def graph_product_dtypes(graph) -> set[str]:
    """The dtypes of the matrix products a traced function's tf.Graph runs, nested functions included:
    what it computes in."""
    import tensorflow as tf

    definition = graph.as_graph_def()
    nodes = [*definition.node, *(node for function in definition.library.function for node in function.node_def)]
    return {tf.dtypes.as_dtype(node.attr["T"].type).name for node in nodes
            if node.op in ("MatMul", "BatchMatMulV2", "Einsum")}


def product_dtypes(directory: Path) -> set[str]:
    """graph_product_dtypes of a SavedModel's serving signature (an export's, model/'s)."""
    import tensorflow as tf

    return graph_product_dtypes(tf.saved_model.load(str(directory)).signatures["serving_default"].graph)


def make_split(texts, pairs=None, labels=None, name="test") -> Split:
    texts = np.array(texts, dtype=object)
    pairs = None if pairs is None else np.array(pairs, dtype=object)
    labels = np.arange(len(texts), dtype=np.int32) if labels is None else labels
    return Split(name, texts, pairs, labels)


def pad_columns(array: np.ndarray, width: int) -> np.ndarray:
    return np.pad(array, [(0, 0), (0, width - array.shape[1])])


def collect(dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All batches of a tf.data.Dataset, zero padded to the widest, concatenated in the order they came."""
    batches = list(dataset.as_numpy_iterator())
    width = max(b[0]["input_word_ids"].shape[1] for b in batches)
    from tfbert.packers import FEATURE_NAMES

    feats = {name: np.concatenate([pad_columns(b[0][name], width) for b in batches]) for name in FEATURE_NAMES}
    labels = np.concatenate([b[1] for b in batches])
    return feats, labels


def by_label(feats: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Rows put back in the split's order (labels are the row numbers)."""
    order = np.argsort(labels, kind="stable")
    np.testing.assert_array_equal(labels[order], np.arange(len(labels)))  # each example exactly once
    return {name: value[order] for name, value in feats.items()}


def nan_weights_at(epoch: int, batch: int):
    """A Keras callback that sets the model's last weight to NaN as step `batch` of
    `epoch` begins (0-based), so that step's loss is NaN."""
    import tensorflow as tf
    import tf_keras

    class NanWeights(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, current: int, logs=None) -> None:
            self.epoch = current

        def on_train_batch_begin(self, current: int, logs=None) -> None:
            if (self.epoch, current) == (epoch, batch):
                weight = self.model.trainable_weights[-1]
                weight.assign(tf.fill(weight.shape, float("nan")))

    return NanWeights()


# Words of the tiny encoder's vocabulary. data.toy_sentiment's reviews (longer, of 20 adjectives)
# take the tiny encoder hundreds of rows to learn (configs/tiny.yaml); these, a few dozen steps.
FILLER, GOOD, BAD = "the film was a very".split(), "good great best fun".split(), "bad awful worst dull".split()


def reviews(rows: int, seed: int = 0, positive_share: float = 0.5, columns: tuple[str, str] = ("text", "label"),
            labels: tuple = (0, 1)) -> pd.DataFrame:
    """Synthetic reviews whose label is which kind of adjective they hold: four filler words,
    then two GOOD or two BAD ones. int(positive_share * rows) of them are positive, spread
    evenly (at 0.5: every other row, from the second); named `columns` (text, label), with
    labels 0 (BAD) and 1 (GOOD) written as `labels`."""
    rng = np.random.default_rng(seed)
    positive = np.diff(np.floor(np.arange(rows + 1) * positive_share + 1e-9)) > 0
    texts = [" ".join([*rng.choice(FILLER, 4), *rng.choice(GOOD if good else BAD, 2)]) for good in positive]
    return pd.DataFrame({columns[0]: texts, columns[1]: [labels[int(good)] for good in positive]})


def write_yaml(path: Path, values: dict) -> Path:
    """`values` as a YAML file at `path`; the path."""
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def run_python(code: str, cwd: Path | None = None, timeout: float = 600, **env: str | None) -> subprocess.CompletedProcess:
    """`code` (dedented) in a fresh interpreter, in this process's environment with `env`
    on top (None: leave that variable out)."""
    environment = {key: value for key, value in os.environ.items() if key not in env}
    environment |= {key: value for key, value in env.items() if value is not None}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=timeout)


def last_json_line(done: subprocess.CompletedProcess) -> dict:
    """The JSON value on the last line a successful run_python printed."""
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def numbered_rows(path: Path, rows: int = 240) -> Path:
    """A labelled CSV whose texts are told apart by their digits (the tiny vocabulary spells numbers digit by digit)."""
    texts = [" ".join(str(i)) + (" good movie" if i % 2 else " bad movie") for i in range(rows)]
    pd.DataFrame({"text": texts, "label": [i % 2 for i in range(rows)]}).to_csv(path, index=False)
    return path


def saved_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The float variables of run_dir/model, by checkpoint name (optimizer slots left out)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run_dir / "model" / "variables" / "variables"))
    tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if "optimizer" not in name}
    return {name: value for name, value in tensors.items() if np.asarray(value).dtype.kind == "f"}


# Labelled files for the data stage's tests (test_tables, test_labels, test_splits, test_statistics).


def write_table(frame: pd.DataFrame, path: Path) -> Path:
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


def data_spec(path: Path | str, **values):
    """What load_splits reads from a config with these keys."""
    from tfbert.data.splits import DataSpec

    return DataSpec.from_config(tfbert.load_config({"data_path": str(path), **values}))


def labelled_frame(n_neg: int, n_pos: int, **extra) -> pd.DataFrame:
    """n_neg rows labelled 0 then n_pos labelled 1, each text unique."""
    labels = [0] * n_neg + [1] * n_pos
    return pd.DataFrame({"text": [f"text number {i}" for i in range(len(labels))], "label": labels, **extra})


def label_counts(split: Split) -> np.ndarray:
    """Rows of label 0 and of label 1 in a binary split."""
    return np.bincount(split.labels, minlength=2)
