"""Writing BERT encoders in TF Hub format: the SavedModel layout TF Hub's BERTs have.

A TF Hub BERT encoder is a SavedModel called with a dict of int32 [batch, seq] tensors
(input_word_ids, input_mask, input_type_ids) that returns a dict with pooled_output,
sequence_output and encoder_outputs, and carries its WordPiece vocab_file asset and
do_lower_case variable so the matching tokenizer can be rebuilt from the encoder alone.
tensorflow/models' export_tfhub builds them from BertEncoder(dict_outputs=True); so do we,
for the tiny random encoder and for converted Hugging Face checkpoints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import atomic

# BertEncoder's feed-forward activations by name: Model Garden's BERTs (and TF Hub's) use
# the tanh approximation of GELU, Hugging Face's "gelu" is the exact (erf) one.
ACTIVATIONS = {
    "gelu_tanh": lambda x: tf_keras.activations.gelu(x, approximate=True),
    "gelu": lambda x: tf_keras.activations.gelu(x, approximate=False),
    "relu": tf_keras.activations.relu,
}

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
    from official.nlp.modeling import networks  # here: a run over a cached copy never builds one

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


def set_layer_norm_epsilon(network: tf_keras.Model, epsilon: float) -> None:
    """BertEncoder hard-codes a layer-norm epsilon of 1e-12; set every layer norm's own
    before the network is traced and saved."""
    for layer in network.submodules:
        if isinstance(layer, tf_keras.layers.LayerNormalization):
            layer.epsilon = epsilon


def save_hub_encoder(network: tf_keras.Model, vocab_file: str | Path, do_lower_case: bool,
                     export_dir: str | Path) -> Path:
    """Save `network` as a TF Hub-format encoder SavedModel, atomically.

    Mirrors tensorflow/models' export_tfhub: a Keras model over the encoder's named
    inputs, with the vocab file as an asset and do_lower_case as a variable.
    """
    inputs = {tensor.name: tensor for tensor in network.inputs}
    outputs = dict(network(inputs))
    outputs["default"] = outputs["pooled_output"]
    core = tf_keras.Model(inputs=inputs, outputs=outputs)
    core.vocab_file = tf.saved_model.Asset(str(vocab_file))
    core.do_lower_case = tf.Variable(do_lower_case, trainable=False)
    with atomic.staged(export_dir) as staging:
        core.save(str(staging), include_optimizer=False, save_format="tf")
    return Path(export_dir)


def write_tiny_encoder(export_dir: str | Path, seed: int = 0, hidden_size: int = 32,
                       num_layers: int = 2, dropout_rate: float = 0.1) -> Path:
    """A randomly initialised small BERT encoder in TF Hub format, for offline runs
    (`dropout_rate` inside it, on attention and hidden layers, when training)."""
    tf_keras.utils.set_random_seed(seed)
    vocab = tiny_vocabulary()
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        network = build_bert_network(len(vocab), hidden_size=hidden_size, num_layers=num_layers,
                                     num_attention_heads=2, inner_dim=2 * hidden_size, dropout_rate=dropout_rate,
                                     attention_dropout_rate=dropout_rate)
        return save_hub_encoder(network, vocab_file, True, export_dir)
