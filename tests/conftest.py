"""Shared fixtures: an offline tiny encoder and a cache that lives in the test's temp dir."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import hub_format
from tfbert.data import Split
from tfbert.errors import TfbertError


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
    """Keep `encoder: tiny`, cached assets and W&B's files out of the user's home; W&B
    is off unless a test turns it on (wandb_mode: offline)."""
    cache = tmp_path_factory.mktemp("tfbert-cache")
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
    """A small random TF Hub-format BERT encoder, written once per test session."""
    return str(hub_format.write_tiny_encoder(tmp_path_factory.mktemp("encoders") / "tiny", seed=0))


HF_SHAPE = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
             max_position_embeddings=64, type_vocab_size=3, layer_norm_eps=1e-5)


def write_hf_checkpoint(directory: Path, seed: int = 0, prefix: str = "", gamma_beta: bool = False,
                        dropout: float = 0.1) -> dict:
    """A random BERT checkpoint in Hugging Face layout (`dropout`: its hidden and attention
    dropout rates); returns its tensors by plain HF name."""
    rng = np.random.default_rng(seed)
    vocab = hub_format.tiny_vocabulary()
    h, inner = HF_SHAPE["hidden_size"], HF_SHAPE["intermediate_size"]

    def normal(*shape):
        return rng.normal(0, 0.2, size=shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(len(vocab), h),
        "embeddings.position_embeddings.weight": normal(HF_SHAPE["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": normal(HF_SHAPE["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": 1 + normal(h), "embeddings.LayerNorm.bias": normal(h),
        "pooler.dense.weight": normal(h, h), "pooler.dense.bias": normal(h),
    }
    for i in range(HF_SHAPE["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            tensors[f"{p}.attention.self.{name}.weight"] = normal(h, h)
            tensors[f"{p}.attention.self.{name}.bias"] = normal(h)
        tensors |= {
            f"{p}.attention.output.dense.weight": normal(h, h), f"{p}.attention.output.dense.bias": normal(h),
            f"{p}.attention.output.LayerNorm.weight": 1 + normal(h), f"{p}.attention.output.LayerNorm.bias": normal(h),
            f"{p}.intermediate.dense.weight": normal(inner, h), f"{p}.intermediate.dense.bias": normal(inner),
            f"{p}.output.dense.weight": normal(h, inner), f"{p}.output.dense.bias": normal(h),
            f"{p}.output.LayerNorm.weight": 1 + normal(h), f"{p}.output.LayerNorm.bias": normal(h),
        }
    stored = {}
    for name, value in tensors.items():
        if gamma_beta:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        stored[prefix + name] = value
    stored[prefix + "embeddings.position_ids"] = np.arange(HF_SHAPE["max_position_embeddings"])[None]
    directory.mkdir(parents=True, exist_ok=True)
    save_file(stored, str(directory / "model.safetensors"))
    config = {"model_type": "bert", "hidden_act": "gelu", "vocab_size": len(vocab), **HF_SHAPE,
              "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return tensors


@pytest.fixture
def hf_checkpoint():
    """write_hf_checkpoint(directory, seed=0, prefix="", gamma_beta=False, dropout=0.1) -> tensors by HF name."""
    return write_hf_checkpoint


def write_tfhub_export(directory: Path, dropout: float = 0.1, with_mlm: bool = False, bert_v2: bool = False) -> Path:
    """A BERT encoder SavedModel written exactly as TF Hub's BERTs were: Model Garden's
    export_tfhub_lib.export_model from a checkpoint (a random one, of a small BertConfig;
    with_mlm as the encoders published beside a preprocessing model), vocab_file and
    do_lower_case attached, dropout ops unseeded. `bert_v2`: from Model Garden's newer
    encoder config instead (BertEncoderV2, its variables under bert_encoder_v2/, with
    16-wide word embeddings projected to the hidden size). Returns the SavedModel's folder."""
    import tensorflow as tf
    from official.legacy.bert import configs
    from official.nlp.configs import encoders as encoder_configs
    from official.nlp.tools import export_tfhub_lib

    vocab = hub_format.tiny_vocabulary()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    bert_config = configs.BertConfig(vocab_size=len(vocab), hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                                     intermediate_size=40, max_position_embeddings=64, type_vocab_size=2,
                                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    configured = {"bert_config": bert_config}
    if bert_v2:
        configured = {"encoder_config": encoder_configs.EncoderConfig(type="bert_v2", bert_v2=encoder_configs.BertEncoderConfig(
            vocab_size=len(vocab), hidden_size=24, num_layers=2, num_attention_heads=3, intermediate_size=40,
            max_position_embeddings=64, type_vocab_size=2, dropout_rate=dropout, attention_dropout_rate=dropout,
            embedding_size=16))}
    _, restored = export_tfhub_lib._create_model(with_mlm=with_mlm, **configured)  # what export_model restores
    items = restored.checkpoint_items if with_mlm else {"encoder": restored}
    checkpoint = tf.train.Checkpoint(**items).save(str(directory / "checkpoint" / "ckpt"))
    export_tfhub_lib.export_model(str(directory / "encoder"), model_checkpoint_path=checkpoint, with_mlm=with_mlm,
                                  vocab_file=str(directory / "vocab.txt"), do_lower_case=True, **configured)
    return directory / "encoder"


@pytest.fixture(scope="session")
def release_0_2_0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What tfbert 0.2.0 wrote (tests/data/README.md): run-0.2.0/ and tiny-encoder-0.2.0/."""
    import tarfile

    folder = tmp_path_factory.mktemp("release-0.2.0")
    with tarfile.open(ROOT / "tests" / "data" / "release-0.2.0.tar.xz") as archive:
        archive.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return folder


@pytest.fixture(scope="session")
def tfhub_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """write_tfhub_export's encoder (dropout 0.1 inside), written once per test session in
    a fresh process, so that no seed set by an earlier test reaches its dropout ops."""
    folder = tmp_path_factory.mktemp("tfhub")
    script = "import sys, pathlib, conftest; conftest.write_tfhub_export(pathlib.Path(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])})
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "encoder"


@pytest.fixture(scope="session")
def pair_export(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: str):
    """An untrained binary classifier over text pairs and its serving export (threshold 0.3)."""
    from tfbert import encoders, export, model, packers
    from tfbert.data import LabelMap

    label_map = LabelMap(("different", "same"), "binary")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=24)
    directory = export.save_serving_model(classifier, packer, label_map, 0.3,
                                          tmp_path_factory.mktemp("pairs") / "export", with_pairs=True)
    return classifier, packer, label_map, directory


# --------------------------------------------------------------------------- texts for the packer and dataset tests
# Varied strings (words, accents, CJK, emoji, other scripts, punctuation, numbers, and
# TRICKY's edge cases) that test_packers and test_datasets tokenize and batch.

WORDS = """
the a and of to in is it that this was for on with as but not be are by at from or have
an they which one you were all we her she there would their will when who him been has more
if no out so said what up its about than into them can only other new some could time these
two may then do first any my now such like our over man me even most made after also did
many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year
off come since against go came right used take three movie film story plot actor brilliant
unbelievable tokenization jacksonville unaffable preprocessing hyperparameter insincere
questions running runner quickly happiness careless wonderful embedding transformers
""".split()
_ACCENTED = [
    "café", "naïve", "résumé", "façade", "Ångström", "niño", "señor", "über", "Müller", "Zürich",
    "São", "Paulo", "crème", "brûlée", "déjà", "vu", "coöperate", "Åsa", "Øresund", "Łódź",
    "Dvořák", "Ελλάδα", "İstanbul", "straße", "ẞ", "ﬁnance", "Ｆｕｌｌｗｉｄｔｈ", "e\u0301t\u00e9",
]
_CJK = ["中文", "日本語", "漢字", "東京タワー", "ひらがな", "カタカナ", "한국어", "中华人民共和国", "𠀋", "好"]
_EMOJI = ["😀", "👍🏽", "🇫🇷", "👨\u200d👩\u200d👧", "🤖", "❤️", "🎉🎉", "🙈🙉🙊", "☃", "✓"]
_SCRIPTS = [
    "Привет", "мир", "Добрый", "день", "ЁЖИК", "Ελληνικά", "αλφα", "ΟΔΟΣ", "λόγος", "مرحبا",
    "العربية", "שלום", "สวัสดี", "नमस्ते", "ქართული", "Հայերեն", "ትግርኛ",
]
_PUNCT = [
    "!", "?", ".", ",", ";", ":", "...", "!!!", "?!?", "--", "—", "–", "'", '"', "“", "”", "«",
    "»", "(", ")", "[", "]", "{", "}", "#", "@", "&", "*", "/", "\\", "|", "~", "^", "`", "$",
    "%", "€", "£", "¿", "¡", "·", "…", "+", "=", "<", ">", "_", "§", "°", "™",
]
_NUMBERS = ["0", "7", "42", "1999", "3.14", "1,000,000", "12:30", "2nd", "A4", "x86_64", "١٢٣"]
_SPACES = [" "] * 12 + ["  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u2028", ""]
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\x00", "\x07", "\x1b", "\u0301", "\ufffd", "\u00ad", "\x7f"]

TRICKY = [
    "", " ", "   ", "\t", "\n", "\r\n", "\t \n \r", "\x00", "\u200b", "\ufeff", "\u200b\u200c\u200d",
    "a", "A", "I", ".", "!!!", "?!?!?!", "...", "------", "(((())))", "\"'\"'", "<br />", "&amp;",
    "Hello, World!", "HELLO world", "hElLo WoRlD", "don't stop", "U.S.A.", "e-mail me@example.com",
    "https://example.com/path?q=1&r=2#frag", "C++ > C#?", "$100.00 (50%) off!!!",
    "café naïve résumé", "CAFÉ NAÏVE RÉSUMÉ", "e\u0301e\u0301e\u0301", "Ångström Øresund",
    "niño señor ñandú", "über Müller Zürich", "straße STRASSE ẞ", "İstanbul ıi", "ﬁ ﬂ ﬀ",
    "ＡＢＣ　ｄｅｆ", "中文", "日本語のテキスト", "我爱北京天安门", "中文English混合mixed", "한국어 텍스트",
    "😀", "😀😀😀", "👍🏽 great", "👨\u200d👩\u200d👧 family", "🇫🇷🇩🇪", "smile😀inside",
    "Привет, мир!", "ΟΔΟΣ οδος", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "tab\tseparated\tvalues", "line\nbreaks\r\nhere", "bell\x07and\x1bescape", "nul\x00inside",
    "zero\u200bwidth\u200djoiner", "soft\u00adhyphen", "bom\ufeffstart", "replacement\ufffdchar",
    "x" * 450,  # longer than WordpieceTokenizer's max_input_chars_per_word: one [UNK]
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["word"] * 300),
    "。".join(["中文句子"] * 60),
    "!" * 200,
    "a" + "\u0301" * 20,
    "b" * 401,  # over max_input_chars_per_word (400): one [UNK]
    "ж" * 150,  # 150 characters but 300 bytes: over tensorflow_text's default max_bytes_per_word
    "😀" * 120,
    "ΣΑΣ ΑΣ. ΑΣ'Α ΑΣ中 İI",  # final sigma in its contexts, dotted capital I
]


def _word(rng: random.Random) -> str:
    pool = rng.choices(
        [WORDS, _ACCENTED, _CJK, _EMOJI, _SCRIPTS, _PUNCT, _NUMBERS],
        weights=[50, 10, 6, 4, 8, 12, 5],
    )[0]
    word = rng.choice(pool)
    style = rng.random()
    if style < 0.15:
        word = word.upper()
    elif style < 0.30:
        word = word.capitalize()
    elif style < 0.38:
        word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    if rng.random() < 0.12:
        word += rng.choice(_PUNCT) * rng.randint(1, 3)
    if rng.random() < 0.05:
        cut = rng.randint(0, len(word))
        word = word[:cut] + rng.choice(_INVISIBLE) + word[cut:]
    return word


def _text(rng: random.Random, num_words: int) -> str:
    parts = []
    for _ in range(num_words):
        parts.append(_word(rng))
        parts.append(rng.choice(_SPACES))
    text = "".join(parts[:-1])
    if rng.random() < 0.1:
        text = rng.choice(_SPACES) + text + rng.choice(_SPACES)
    return text


def make_texts(seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    texts = list(TRICKY)
    texts += [_text(rng, rng.randint(1, 6)) for _ in range(80)]
    texts += [_text(rng, rng.randint(5, 40)) for _ in range(140)]
    texts += [_text(rng, rng.randint(90, 250)) for _ in range(25)]  # beyond 128 tokens
    for text in texts:
        text.encode("utf-8")  # every string must survive the trip through tf.string
    return texts


def make_pairs(texts: list[str], seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    pairs = [texts[i] for i in rng.sample(range(len(texts)), len(texts))]
    for i in range(0, len(pairs), 23):  # some pairs with an empty or blank second segment
        pairs[i] = rng.choice(["", " ", "\u200b", "\x00", "\t\n"])
    for i in range(5, len(pairs), 31):  # and some with a blank first segment only
        pairs[i] = texts[(i * 7) % len(texts)] or "second segment"
    return pairs


TEXTS = make_texts()
PAIRS = make_pairs(TEXTS)



@pytest.fixture(scope="module")
def tiny_vocab_file(tiny_encoder) -> str:
    """The tiny encoder's vocab_file (an uncased vocabulary)."""
    from tfbert import encoders

    vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(tiny_encoder, trainable=False))
    assert do_lower_case is True
    return vocab_file


def make_split(texts, pairs=None, labels=None, name="test") -> Split:
    texts = np.array(texts, dtype=object)
    pairs = None if pairs is None else np.array(pairs, dtype=object)
    labels = np.arange(len(texts), dtype=np.int32) if labels is None else labels
    return Split(name, pd.DataFrame({"text": texts}), texts, pairs, labels)


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


# `python -m tfbert.train` with test hooks: every training batch's rows are appended to
# $EXAMPLE_LOG as the pipeline hands them to fit (a distributed run's: each per-replica
# batch its worker feeds); $KILL_AT=epoch,step sends the process SIGKILL at the end of that
# step (no cleanup of any kind); $FIT_LOG receives the strategy's replica count when fit
# begins and the model's weights (.npz) when it ends.
HOOKED_TRAIN = """
import json, os, signal, sys
import numpy as np
import tfbert
import tensorflow as tf, tf_keras
from tfbert import callbacks, input_pipeline
from tfbert.errors import run_command
from tfbert.train import main

def write(ids):
    rows = [" ".join(str(i) for i in row if i > 0) for row in ids.numpy().tolist()]
    with open(os.environ["EXAMPLE_LOG"], "a") as log:
        log.write(json.dumps(rows) + "\\n")
    return 0

def tap(feats, labels):
    done = tf.py_function(write, [feats["input_word_ids"]], tf.int32)
    with tf.control_dependencies([done]):
        return feats, tf.identity(labels)

training_batches = input_pipeline.training_batches
input_pipeline.training_batches = lambda *args, **kwargs: training_batches(*args, **kwargs).map(tap)

class Hooks(tf_keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        if os.environ.get("FIT_LOG"):
            with open(os.environ["FIT_LOG"], "w") as log:
                log.write(str(self.model.distribute_strategy.num_replicas_in_sync))
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if os.environ.get("KILL_AT") == f"{self.epoch},{batch}":
            os.kill(os.getpid(), signal.SIGKILL)
    def on_train_end(self, logs=None):
        if os.environ.get("FIT_LOG"):
            np.savez(os.environ["FIT_LOG"] + ".npz", *self.model.get_weights())

training_callbacks = callbacks.training_callbacks
callbacks.training_callbacks = lambda *args: training_callbacks(*args) + [Hooks()]
sys.exit(run_command(main))
"""


@dataclasses.dataclass
class Finished:
    """A hooked training process that ended (killed: returncode -9)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def start_hooked_train(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """HOOKED_TRAIN with `args`, logging examples to `log`, in its own process group (so
    a hung run and all it started can be killed); its output goes to log.out and log.err."""
    script = log.parent / "train_with_hooks.py"
    script.write_text(HOOKED_TRAIN)
    environ = {key: value for key, value in os.environ.items() if key not in ("KILL_AT", "FIT_LOG", "TF_CONFIG")}
    environ |= {"EXAMPLE_LOG": str(log), "PYTHONPATH": str(ROOT), **env}
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        process = subprocess.Popen([sys.executable, str(script), *args], env=environ, cwd=ROOT, stdout=out,
                                   stderr=err, start_new_session=True)
    process.log = log
    process.started = time.monotonic()
    return process


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[Finished]:
    """Wait for every process; past `timeout` seconds kill all their process groups and fail."""
    deadline = time.monotonic() + timeout
    ended = []
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            ended.append(time.monotonic())
    except subprocess.TimeoutExpired:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"a training process was still running after {timeout} s: killed")
    return [Finished(process.returncode, Path(f"{process.log}.out").read_text(), Path(f"{process.log}.err").read_text(),
                     end - process.started) for process, end in zip(processes, ended)]


def run_hooked_train(args: list[str], log: Path, timeout: float = 600, **env: str) -> Finished:
    return wait_all([start_hooked_train(args, log, **env)], timeout)[0]


def logged_batches(log: Path) -> list[list[str]]:
    """The batches HOOKED_TRAIN logged, each a list of its rows' token ids."""
    return [json.loads(line) for line in log.read_text().splitlines()]


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
