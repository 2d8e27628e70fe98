"""BERT encoders in TF Hub format: resolving handles, loading them, and building a tiny one.

A TF Hub BERT encoder is a SavedModel called with a dict of int32 [batch, seq] tensors
(input_word_ids, input_mask, input_type_ids) that returns a dict with pooled_output,
sequence_output and encoder_outputs, and carries its WordPiece vocab_file asset and
do_lower_case variable so the matching tokenizer can be rebuilt from the encoder alone.

    python -m tfbert.encoders tiny DIR   # a small random encoder for tests and offline demos
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras
from official.nlp.modeling import networks

from tfbert.errors import ArgumentParser, TfbertError, run_command

ONLINE_PREFIXES = ("https://", "http://", "gs://")

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Words for the tiny encoder's vocabulary: enough English for WordPiece to split real
# sentences into whole words, stems plus suffixes, and characters.
_TINY_WORDS = """
the a an and or but if then than so not no yes is are was were be been being am do does did
have has had will would can could should may might must shall i you he she it we they me him
her us them my your his its our their this that these those there here what which who whom
whose when where why how all any both each few more most other some such only own same too
very just also of in on at by for with about against between into through during before after
above below to from up down out off over under again further once new old good great best
better well bad worse worst terrible awful horrible poor boring dull love loved loves hate
hated hates like liked enjoy fun funny sad happy beautiful ugly nice fine excellent amazing
wonderful brilliant perfect mess waste film movie story plot actor actors acting cast scene
scenes script director character characters performance music time year years day days way
man woman people life world thing things work make made makes see seen watch watched think
thought feel felt know knew say said get got go going went come came take took give gave look
looked want wanted find found tell told ask asked seem seemed leave left call called try tried
keep kept start end ending long short high low big small little large first last next early
late young real right wrong true false question answer why how hello world learning day
quora question questions insincere sincere data text model bert classification test train
one two three four five six seven eight nine ten hundred thousand
run ##s ##es ##ed ##ing ##ly ##er ##est ##ness ##ful ##less ##able ##ment ##tion
""".split()
_TINY_EXTRA_CHARACTERS = "éèêëàâäôöüûùçñíóúß中文日本語字한국어ДобрыйденьΑλφα"


def tiny_vocabulary() -> list[str]:
    """A small deterministic WordPiece vocabulary: specials, words, suffixes, characters."""
    characters = [chr(c) for c in range(33, 127)] + list(_TINY_EXTRA_CHARACTERS)
    lower = [c for c in characters if not c.isupper()]
    tokens = list(SPECIAL_TOKENS) + lower + ["##" + c for c in lower] + _TINY_WORDS
    return list(dict.fromkeys(tokens))  # de-duplicated, order kept


def build_bert_network(vocab_size: int, hidden_size: int = 32, num_layers: int = 2,
                       num_attention_heads: int = 2, inner_dim: int = 64,
                       max_sequence_length: int = 512, **kwargs) -> tf_keras.Model:
    """A BertEncoder with dict outputs, as TF Hub's BERT exports are built."""
    return networks.BertEncoder(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_attention_heads=num_attention_heads,
        inner_dim=inner_dim,
        max_sequence_length=max_sequence_length,
        type_vocab_size=kwargs.pop("type_vocab_size", 2),
        dict_outputs=True,
        **kwargs,
    )


def save_hub_encoder(network: tf_keras.Model, vocab_file: str | Path, do_lower_case: bool,
                     export_dir: str | Path) -> Path:
    """Save `network` as a TF Hub-format encoder SavedModel, atomically.

    Mirrors tensorflow/models' export_tfhub: a Keras model over the encoder's named
    inputs, with the vocab file as an asset and do_lower_case as a variable.
    """
    export_dir = Path(export_dir)
    inputs = {tensor.name: tensor for tensor in network.inputs}
    outputs = dict(network(inputs))
    outputs["default"] = outputs["pooled_output"]
    core = tf_keras.Model(inputs=inputs, outputs=outputs)
    core.vocab_file = tf.saved_model.Asset(str(vocab_file))
    core.do_lower_case = tf.Variable(do_lower_case, trainable=False)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.", dir=export_dir.parent))
    try:
        core.save(str(staging), include_optimizer=False, save_format="tf")
        if export_dir.exists():
            shutil.rmtree(export_dir)
        os.replace(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def write_tiny_encoder(export_dir: str | Path, seed: int = 0, hidden_size: int = 32,
                       num_layers: int = 2) -> Path:
    """A randomly initialised small BERT encoder in TF Hub format, for offline runs."""
    tf_keras.utils.set_random_seed(seed)
    vocab = tiny_vocabulary()
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        network = build_bert_network(len(vocab), hidden_size=hidden_size, num_layers=num_layers,
                                     num_attention_heads=2, inner_dim=2 * hidden_size)
        return save_hub_encoder(network, vocab_file, True, export_dir)


def cache_dir() -> Path:
    """Where tfbert keeps encoders it writes: $TFBERT_CACHE, default ~/.cache/tfbert."""
    return Path(os.environ.get("TFBERT_CACHE") or Path.home() / ".cache" / "tfbert").expanduser()


def resolve_handle(spec: str) -> str:
    """The handle hub.KerasLayer loads for a config's `encoder:` value.

    `tiny` is the small random encoder, written to the cache on first use; a URL is a
    TF Hub or Kaggle Models handle (needs internet); anything else is a local directory.
    """
    if not spec:
        raise TfbertError("config key 'encoder' is required: a TF Hub handle or a local encoder directory")
    if spec == "tiny":
        path = cache_dir() / "encoders" / "tiny"
        if not (path / "saved_model.pb").is_file():
            write_tiny_encoder(path)
        return str(path)
    if spec.startswith(ONLINE_PREFIXES):
        return spec
    path = Path(spec).expanduser()
    if (path / "saved_model.pb").is_file():
        return str(path.resolve())
    if path.is_dir():
        raise TfbertError(f"encoder directory {path} holds no saved_model.pb; is it a TF Hub-format SavedModel?")
    raise TfbertError(
        f"encoder '{spec}' is neither a TF Hub handle (https://...) nor an existing directory; "
        "`python -m tfbert.encoders tiny DIR` writes a small offline one"
    )


def load_encoder(spec: str, trainable: bool = True) -> hub.KerasLayer:
    """The encoder as a Keras 2 layer over the three BERT inputs."""
    handle = resolve_handle(spec)
    try:
        return hub.KerasLayer(handle, trainable=trainable, name="encoder")
    except (OSError, ValueError, tf.errors.OpError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TfbertError(f"cannot load encoder '{spec}': {first_line}") from None


def tokenizer_assets(encoder: hub.KerasLayer) -> tuple[str, bool]:
    """(vocab_file, do_lower_case) that the encoder carries, as TF Hub BERTs do."""
    obj = encoder.resolved_object
    if not hasattr(obj, "vocab_file") or not hasattr(obj, "do_lower_case"):
        raise TfbertError(
            "the encoder carries no vocab_file / do_lower_case; tfbert needs a TF Hub BERT "
            "encoder with a WordPiece vocabulary (not a preprocessing model or SentencePiece one)"
        )
    return obj.vocab_file.asset_path.numpy().decode("utf-8"), bool(obj.do_lower_case.numpy())


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m tfbert.encoders", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tiny = commands.add_parser("tiny", help="write a small randomly initialised TF Hub-format encoder")
    tiny.add_argument("directory", help="where to write the SavedModel")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", type=int, default=32)
    tiny.add_argument("--num-layers", type=int, default=2)
    args = parser.parse_args(argv)
    path = write_tiny_encoder(args.directory, seed=args.seed, hidden_size=args.hidden_size,
                              num_layers=args.num_layers)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
