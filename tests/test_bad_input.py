"""Every bad input gets a one-line error naming the file, row or key and what to do (the
command exits 2, no traceback, no run directory under its final name), or, where tfbert
can work around it, a `tfbert: warning: ...` line on stderr."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from conftest import command_error

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert import data, encoders, packers
from tfbert.data import tables
from tfbert.errors import TfbertError, run_command
from tfbert.train import main

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"


def rows(n_per_label: int = 10, labels=(0, 1), **extra) -> pd.DataFrame:
    """n_per_label rows of each label, every text different."""
    values = [label for label in labels for _ in range(n_per_label)]
    return pd.DataFrame({"text": [f"text number {i}" for i in range(len(values))], "label": values, **extra})


def write(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` in the format (and compression) `path`'s name says."""
    name = path.name.lower()
    if ".jsonl" in name or ".json" in name:
        frame.to_json(path, orient="records", lines=True)
    elif ".parquet" in name:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if ".tsv" in name else ",", index=False)
    return path


def text_file(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# A case builds its inputs in tmp_path (monkeypatching what it must) and returns them:
# command-line arguments for the training command, a DataSpec for data.load_splits, or
# nothing when the case checks a function itself.
Build = Callable[[Path, pytest.MonkeyPatch], object]


@dataclasses.dataclass(frozen=True)
class Case:
    build: Build
    match: str  # the error's or the warning's message, as a regex
    kind: str = "refused"  # refused (the command) | warned | read (load_splits) | checked (build asserts)
    then: Callable[[dict], None] | None = None  # more checks on load_splits' splits


def refused(build: Build, match: str) -> Case:
    return Case(build, match)


def warned(build: Build, match: str, then: Callable[[dict], None] | None = None) -> Case:
    return Case(build, match, "warned", then)


def read(build: Build, then: Callable[[dict], None]) -> Case:
    return Case(build, "", "read", then)


def checked(build: Build) -> Case:
    return Case(build, "", "checked")


def data_args(path: Path, *more: str) -> list[str]:
    return [f"--data_path={path}", *more]


def good_rows_and(*more: str) -> Build:
    """A case's build: rows() in d.csv, given to the command with the arguments `more`."""
    return lambda t, m: data_args(write(rows(), t / "d.csv"), *more)


def spec(path: Path, **values) -> data.DataSpec:
    return data.DataSpec(str(path), **values)


# ----------------------------------------------------------------------------- builders


def unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    path = write(rows(), tmp_path / "locked.csv")
    path.chmod(0)
    if os.geteuid() == 0 or os.access(path, os.R_OK):  # root reads it anyway: simulate the refusal
        def refuse(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))
        monkeypatch.setattr(tables, "open", refuse, raising=False)
    return data_args(path)


def texts_are(expected) -> Callable[[dict], None]:
    """A check that the train and validation splits together hold these texts."""
    def check(splits: dict) -> None:
        assert sorted(t for split in splits.values() for t in split.texts) == sorted(expected)
    return check


def compressed(name: str) -> Case:
    return read(lambda t, m: spec(write(rows(), t / name)), texts_are(rows()["text"]))


def json_array(tmp_path, monkeypatch):
    path = tmp_path / "array.json"
    rows().to_json(path, orient="records", indent=1)
    assert path.read_text().startswith("[")
    return spec(path)


def with_blank_rows(tmp_path, monkeypatch):
    frame = rows().astype({"text": object, "label": object})
    frame.loc[1, "text"], frame.loc[4, "text"], frame.loc[6, "text"] = None, "   ", "\t\n"
    frame.loc[12, "label"] = None
    path = write(frame, tmp_path / "blank.jsonl")
    return spec(path, on_bad_rows="drop")


def numbers_as_texts(tmp_path, monkeypatch):
    frame = rows().astype({"text": object})
    frame.loc[2, "text"], frame.loc[5, "text"] = 42, 3.5
    return spec(write(frame, tmp_path / "numbers.jsonl"))


def latin1_csv(tmp_path, monkeypatch):
    path = tmp_path / "latin1.csv"
    text = rows().to_csv(index=False).replace("text number 3,", "caf\u00e9 number 3,")
    path.write_bytes(text.encode("latin-1"))
    return spec(path)


def leaked(tmp_path, monkeypatch):
    valid = pd.DataFrame({"text": ["fresh", "text number 0", "new", "text number 15"], "label": [0, 0, 1, 1]})
    return spec(write(rows(), tmp_path / "train.csv"), valid_path=str(write(valid, tmp_path / "valid.csv")))


def mixed_labels(tmp_path, monkeypatch):
    frame = rows().astype({"label": object})
    frame.loc[3, "label"] = "1"
    return data_args(write(frame, tmp_path / "mixed.jsonl"))


def unseen_in_valid(tmp_path, monkeypatch):
    valid = pd.DataFrame({"text": ["a", "b", "c"], "label": ["neg", "neutral", "pos"]})
    return data_args(write(rows(labels=("neg", "pos")), tmp_path / "train.csv"),
                     f"--valid_path={write(valid, tmp_path / 'valid.csv')}")


def too_rare(tmp_path, monkeypatch):
    lonely = pd.DataFrame({"text": ["lonely"], "label": ["rare"]})
    return data_args(write(pd.concat([rows(labels=("neg", "pos")), lonely]), tmp_path / "d.csv"))


def bad_saved_model(tmp_path, monkeypatch):
    (tmp_path / "enc").mkdir()
    text_file(tmp_path / "enc" / "saved_model.pb", b"not a SavedModel")
    return data_args(write(rows(), tmp_path / "d.csv"), f"--encoder={tmp_path / 'enc'}")


def offline_handle(tmp_path, monkeypatch):
    return data_args(write(rows(), tmp_path / "d.csv"), "--encoder=https://127.0.0.1:9/tensorflow/bert/1")


def long_position(tmp_path, monkeypatch):
    return data_args(write(rows(), tmp_path / "d.csv"), "--max_seq_length=1024")


def max_seq_length_check(tmp_path, monkeypatch):
    encoder = encoders.load_encoder("tiny", trainable=False)
    assert encoders.position_limit(encoder) == 512
    encoders.check_max_seq_length(encoder, 512)
    with pytest.raises(TfbertError, match=r"^max_seq_length 513 is more than the encoder's 512 positions; "
                                          r"set max_seq_length to 512 or less$"):
        encoders.check_max_seq_length(encoder, 513)


def no_network(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("download failed") from ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(encoders.hub, "KerasLayer", fail)
    with pytest.raises(TfbertError, match="https://tfhub.dev/x/1'.*needs internet access.*local directory.*hf:DIR"):
        encoders.load_encoder("https://tfhub.dev/x/1")
    with pytest.raises(TfbertError, match="cannot load encoder .*: download failed$"):  # a local path: not the network
        encoders.load_encoder("tiny")


HUGE_CHARACTERS = 10_000_000


def huge_text(tmp_path, monkeypatch):
    """Ten million characters pack to what their first part packs to, in bounded time,
    and the tokenizers only ever see the head of the text."""
    words = "the good movie was a terrible mess of actors , très bien ! 中文 and".split()
    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(words, size=HUGE_CHARACTERS // 4))[:HUGE_CHARACTERS]
    assert len(text) == HUGE_CHARACTERS
    vocab_file = encoders.tokenizer_assets(encoders.load_encoder("tiny", trainable=False))[0]
    cap = packers.head_chars(32)
    for kind in packers.TOKENIZERS:
        packer = packers.make_packer(kind, vocab_file, True, 32)
        expected = packer(tf.constant([text[:cap]]), tf.constant([text[:cap]]))
        if kind == "py_function":
            seen = []
            tokenize = packer.tokenizer.tokenize
            monkeypatch.setattr(packer.tokenizer, "tokenize", lambda t: seen.append(len(t)) or tokenize(t))
        start = time.perf_counter()
        got = packer(tf.constant([text]), tf.constant([text]))
        assert time.perf_counter() - start < 10, kind
        for name in packers.FEATURE_NAMES:
            np.testing.assert_array_equal(got[name].numpy(), expected[name].numpy())
        if kind == "py_function":
            assert seen and max(seen) <= 2 * cap  # the cap was applied
        else:
            assert packer.words(tf.constant([text]), head=True).row_lengths().numpy()[0] <= cap
        assert got["input_word_ids"].shape == (1, 32)


CASES = {
    # Files.
    "file-missing": refused(lambda t, m: data_args(t / "absent.csv"), r"data file not found: .*absent\.csv$"),
    "file-is-a-directory": refused(lambda t, m: data_args(t), r"is a directory; give a data file: \.csv, \.tsv"),
    "file-unreadable": refused(unreadable, r"cannot read .*locked\.csv: permission denied; make it readable"),
    "file-empty": refused(lambda t, m: data_args(text_file(t / "e.csv", "")), r"e\.csv is empty; it needs a header row"),
    "file-header-only": refused(lambda t, m: data_args(text_file(t / "h.csv", "text,label\n")),
                                r"h\.csv has no rows; it needs one row per example"),
    "file-unknown-extension": refused(lambda t, m: data_args(write(rows(), t / "d.xlsx")),
                                      r"cannot read .*d\.xlsx: use one of \.csv, \.tsv, \.jsonl, \.json, \.parquet "
                                      r"\(all but \.parquet may be compressed: \.gz, \.bz2, \.xz, \.zip\)"),
    "file-csv-gz": compressed("rows.csv.gz"),
    "file-tsv-gz": compressed("rows.tsv.gz"),
    "file-jsonl-gz": compressed("rows.jsonl.gz"),
    "file-csv-bz2": compressed("rows.csv.bz2"),
    "file-csv-zip": compressed("rows.csv.zip"),
    "file-malformed-csv": refused(lambda t, m: data_args(text_file(t / "q.csv", 'text,label\ngood,1\n"bad,0\nok,1\n')),
                                  r"q\.csv: the quote opened on line 3 is never closed; close it"),
    "file-json-array": read(json_array, texts_are(rows()["text"])),
    "file-not-parquet": refused(lambda t, m: data_args(text_file(t / "p.parquet", "text,label\na,1\n")),
                                r"cannot read .*p\.parquet as \.parquet: .*; is it really that kind of file\?$"),
    # Columns.
    "column-text-missing": refused(good_rows_and("--text_column=txt"),
                                   r"d\.csv: column 'txt' not found \(set text_column\); columns are: text, label; "
                                   r"did you mean 'text'\?$"),
    "column-label-missing": refused(good_rows_and("--label_column=labels"),
                                    r"column 'labels' not found \(set label_column\); .*did you mean 'label'\?$"),
    "column-pair-missing": refused(good_rows_and("--text_pair_column=question"),
                                   r"column 'question' not found \(set text_pair_column\); columns are: text, label$"),
    "column-duplicated": refused(lambda t, m: data_args(text_file(t / "d.csv", "text,text,label\na,b,0\nc,d,1\n")),
                                 r"d\.csv: column 'text' appears more than once in the header; give every column"),
    # Texts.
    "text-nan-refused": refused(lambda t, m: data_args(text_file(t / "d.csv", "text,label\na,0\n,1\nb,0\n")),
                                r"d\.csv: 1 row with missing values or blank texts \(1 in column 'text'\) at row 1; "
                                r"fix or remove them, or set on_bad_rows: drop$"),
    "text-blank-refused": refused(lambda t, m: data_args(write(rows().assign(text=[" "] * 3 + [f"t{i}" for i in range(17)]),
                                                               t / "d.jsonl")),
                                  r"3 rows with missing values or blank texts \(3 in column 'text'\) at rows 0, 1, 2;"),
    "text-blank-dropped": warned(with_blank_rows,
                                 r"blank\.jsonl: dropped 4 rows with missing values or blank texts \(3 in column "
                                 r"'text', 1 in column 'label'\): rows 1, 4, 6, 12 \(on_bad_rows: drop\)",
                                 texts_are(rows()["text"].drop([1, 4, 6, 12]))),
    "text-numbers": warned(numbers_as_texts, r"column 'text' holds 2 values that are not text, such as 42 \(rows 2, 5\); "
                           r"they are used as text",
                           texts_are(["42", "3.5", *rows()["text"].drop([2, 5])])),
    "text-not-utf8": warned(latin1_csv, r"latin1\.csv is not UTF-8: bytes in 1 row \(row 3\) were read as \ufffd; save the file",
                            texts_are(["caf\ufffd number 3", *rows()["text"].drop(3)])),
    "text-ten-million-characters": checked(huge_text),
    # Labels.
    "label-nan-refused": refused(lambda t, m: data_args(text_file(t / "d.csv", "text,label\na,0\nb,\nc,1\n")),
                                 r"1 row with missing values or blank texts \(1 in column 'label'\) at row 1; .*drop$"),
    "label-single-class": refused(lambda t, m: data_args(write(rows(labels=(1,)), t / "d.csv")), r"single label \(1\)"),
    "label-not-in-label-list": refused(lambda t, m: data_args(write(rows(labels=("neg", "pos", "neutral", "other")), t / "d.csv"),
                                                              "--label_list=[neg, pos]"),
                                       r"d\.csv: labels missing from label_list \['neg', 'pos'\]: 'neutral', 'other'; "
                                       r"add them to label_list"),
    "label-mixed-types": refused(mixed_labels, r"mixed\.jsonl: column 'label' mixes numbers and text, e\.g\. 1 and '1'; "
                                 r"write every label the same way$"),
    "label-unseen-in-valid": refused(unseen_in_valid,
                                     r"valid\.csv: labels the training data never has: 'neutral'; remove those rows"),
    "label-too-rare-to-stratify": refused(too_rare,
                                          r"label 'rare' has 1 row among the rows of .*d\.csv; splitting them with "
                                          r"train_split 0\.8 \(stratified on the label\) needs at least 2 of each label"),
    # Splits.
    "split-leakage": warned(leaked, r"valid\.csv: 2 of its 4 texts also appear in the training data \(leakage",
                            texts_are([*rows()["text"], "fresh", "text number 0", "new", "text number 15"])),
    "split-valid-empty": refused(good_rows_and("--train_split=0.9", "--valid_split=0.1"),
                                 r"valid_split 0\.1 of the 2 rows left after train_split 0\.9 is no rows; raise valid_split "
                                 r"or lower train_split$"),
    # Config.
    "config-zero-batch": refused(good_rows_and("--train_batch_size=0"), r"config key 'train_batch_size' must be >= 1, got '0'"),
    "config-negative-epochs": refused(good_rows_and("--epochs=-1"), r"config key 'epochs' must be >= 1"),
    "config-zero-train-split": refused(good_rows_and("--train_split=0"), r"config key 'train_split' must be in \(0, 1\]"),
    "config-no-validation-rows": refused(good_rows_and("--train_split=1.0"),
                                         r"train_split is 1\.0, which leaves no rows to validate on"),
    "config-max-seq-length-function": checked(max_seq_length_check),
    # Through the command: training.prepare checks max_seq_length once the encoder is loaded.
    "config-max-seq-length-command": refused(long_position, r"max_seq_length 1024 is more than the encoder's 512 positions"),
    "encoder-missing": refused(lambda t, m: data_args(write(rows(), t / "d.csv"), f"--encoder={t / 'nope'}"),
                               r"encoder '.*nope' is neither a TF Hub handle"),
    "encoder-no-saved-model": refused(lambda t, m: data_args(write(rows(), t / "d.csv"), f"--encoder={t}"),
                                      r"holds no saved_model\.pb; is it a TF Hub-format SavedModel\?$"),
    "encoder-not-a-saved-model": refused(bad_saved_model, r"cannot load encoder '.*enc': Cannot parse file"),
    "encoder-offline-handle": refused(offline_handle, r"encoder 'https://127\.0\.0\.1:9/tensorflow/bert/1': the handle "
                                      r"needs internet access \(.*\); download it .*local directory, or use hf:DIR"),
    "encoder-no-network-function": checked(no_network),
}


SLOW_CASES = {"text-ten-million-characters", "config-max-seq-length-function", "config-max-seq-length-command"}  # seconds each


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_CASES else name
                                  for name in CASES])
def test_bad_input(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    inputs = case.build(tmp_path, monkeypatch)
    if case.kind == "refused":
        output_dir = tmp_path / "runs"
        status = run_command(main, ["--config", str(CONFIG), f"--output_dir={output_dir}", "--wandb_mode=disabled",
                                    "--epochs=1", *inputs])
        captured = capsys.readouterr()
        assert re.search(case.match, command_error(status, captured.err)), captured.err
        assert not [path for path in output_dir.glob("*") if not path.name.startswith(".")]
    elif case.kind in ("warned", "read"):
        splits, _ = data.load_splits(inputs)
        err = capsys.readouterr().err
        if case.kind == "warned":
            assert err.startswith("tfbert: warning: ") and err.count("\n") == 1, err
            assert re.search(case.match, err), err
        else:
            assert err == ""
        case.then(splits)


@pytest.mark.parametrize(
    "args, match",
    [
        ([], r"^no data_path: pass --data_path=FILE \(\.csv, \.tsv, \.jsonl, \.parquet\) or a named set"),
        (["--data_path=toy-sentiment"], r"^no encoder: pass --encoder=all-minilm-l6-v2 \(or tiny, hf:DIR"),
        (["--encoder=tiny", "--data_path="], r"^no data_path: pass --data_path="),
        (["--config", str(CONFIG), "--data_path=null"], r"^no data_path: pass .*; or set data_path in .*tiny\.yaml$"),
        (["--data_path=toy-sentiment", "--encoder=tiny", "--epochs=0"], r"^config key 'epochs' must be >= 1, got '0'$"),
    ],
    ids=["nothing", "no-encoder", "empty-data-path", "config-without-data", "bad-value"],
)
def test_the_command_without_essentials_says_which_key_to_pass(args, match, tmp_path, capsys):
    status = run_command(main, [f"--output_dir={tmp_path}", "--wandb_mode=disabled", *args])
    assert re.search(match, command_error(status, capsys.readouterr().err))
    assert not list(tmp_path.iterdir())


def test_a_config_file_slip_stops_the_command_naming_the_line(tmp_path, capsys):
    config = text_file(tmp_path / "slip.yaml", "data_path: toy-sentiment\nencoder:\n  max_seq_length: 64\n")
    status = run_command(main, ["--config", str(config), f"--output_dir={tmp_path / 'runs'}"])
    message = command_error(status, capsys.readouterr().err)
    assert message == (f"config key 'encoder' takes one value but is given a mapping (an indented line under it?) "
                       f"({config}, line 3)")
    assert not (tmp_path / "runs").exists()
