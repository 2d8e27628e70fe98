"""Config: defaults, YAML plus sweep-style overrides, coercion, and one-line errors."""

import copy
import pickle

import pytest
import yaml
from conftest import raises_one_line, write_yaml

from tfbert.config import KEYS, build_config, dump_config, from_command_line, load_config, parse_overrides, shown
from tfbert.errors import TfbertError


@pytest.mark.parametrize(
    "name, default",
    [
        ("max_seq_length", 128),
        ("train_batch_size", 32),
        ("learning_rate", 2e-5),
        ("dropout", 0.5),
        ("optimizer", "adam"),
        ("epochs", 5),
        ("train_split", 0.9),
        ("valid_split", 1.0),
        ("label_list", None),
        ("class_weight", None),
        ("text_column", "text"),
        ("label_column", "label"),
        ("seed", 42),
    ],
)
def test_an_empty_config_takes_the_default_of_each_training_key(name, default):
    assert getattr(build_config({}), name) == default


def test_every_key_has_its_default():
    assert build_config({}).to_dict() == {key.name: key.default for key in KEYS}


def test_a_default_is_shown_as_a_config_file_writes_it():
    assert shown(None) == "null" and shown(True) == "true" and shown(5e-5) == "5e-05"


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    config = load_config(path)
    assert config.to_dict() == build_config({}).to_dict()
    assert config.name == "empty"


@pytest.mark.parametrize(
    "overrides",
    [["--learning_rate=3e-5"], ["--learning_rate", "3e-5"], ["--learning-rate=3e-5"]],
    ids=["equals", "space", "dashes"],
)
def test_override_forms_win_over_yaml(tmp_path, overrides):
    path = write_yaml(tmp_path / "run.yaml", {"learning_rate": 1e-4, "epochs": 3})
    config = from_command_line(path, overrides)
    assert config.learning_rate == pytest.approx(3e-5)
    assert config.epochs == 3


def test_several_overrides_mixed_forms(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", {"epochs": 3})
    config = from_command_line(path, ["--epochs", "7", "--dropout=0.1", "--optimizer", "adamw"])
    assert (config.epochs, config.dropout, config.optimizer) == (7, 0.1, "adamw")


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    # PyYAML reads `3e-5` as a string (YAML 1.1 wants a dot); it must still become a float.
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 3e-5\n", encoding="utf-8")
    assert load_config(path).learning_rate == pytest.approx(3e-5)


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("epochs", "7", 7),
        ("epochs", 7.0, 7),
        ("max_seq_length", " 64 ", 64),
        ("learning_rate", "1e-3", 1e-3),
        ("dropout", 0, 0.0),
        ("trainable", "false", False),
        ("trainable", "yes", True),
        ("trainable", "0", False),
        ("clean_text", True, True),
        ("label_list", "[neg, pos]", ["neg", "pos"]),
        ("label_list", [1, 0], [1, 0]),
        ("class_weight", "balanced", "balanced"),
        ("class_weight", "{0: 1, 1: 5}", {0: 1.0, 1: 5.0}),
        ("class_weight", {"neg": "2"}, {"neg": 2.0}),
        ("class_weight", "null", None),
        ("run_name", "none", None),
        ("valid_path", None, None),
        ("data_path", "data/train.csv", "data/train.csv"),
    ],
)
def test_coercion(name, raw, expected):
    value = getattr(build_config({name: raw}), name)
    assert value == expected
    assert type(value) is type(expected)


def test_command_line_strings_are_coerced(tmp_path):
    config = from_command_line(
        write_yaml(tmp_path / "run.yaml", {}),
        ["--trainable=false", "--label_list", "[0, 1]", "--class_weight={0: 1, 1: 16}", "--run_name=null"],
    )
    assert config.trainable is False
    assert config.label_list == [0, 1]
    assert config.class_weight == {0: 1.0, 1: 16.0}
    assert config.run_name is None


@pytest.mark.parametrize("source", ["yaml", "command line"])
def test_unknown_key_names_closest(tmp_path, source):
    if source == "yaml":
        path, overrides = write_yaml(tmp_path / "run.yaml", {"learning_rat": 1e-5}), []
    else:
        path, overrides = write_yaml(tmp_path / "run.yaml", {}), ["--learning_rat=1e-5"]
    message = raises_one_line(from_command_line, path, overrides, match="learning_rat")
    assert "did you mean 'learning_rate'?" in message


def test_unknown_key_without_close_match():
    message = raises_one_line(build_config, {"zzzzqqq": 1}, match="unknown config key 'zzzzqqq'")
    assert "did you mean" not in message


@pytest.mark.parametrize(
    "name, value, hint",
    [
        ("dropout", 1.5, r"in \[0, 1\)"),
        ("train_split", 0, r"in \(0, 1\]"),
        ("valid_split", 1.2, r"in \(0, 1\]"),
        ("max_seq_length", 1, "between 3 and 4096"),
        ("optimizer", "sgd", "one of adam, adamw"),
        ("learning_rate", 0, "> 0"),
        ("epochs", 0, ">= 1"),
        ("weight_decay", -0.1, ">= 0"),
        ("epochs", "five", "whole number"),
        ("epochs", 2.5, "whole number"),
        ("epochs", True, "whole number"),
        ("learning_rate", "fast", "number"),
        ("learning_rate", "nan", "finite"),
        ("trainable", "maybe", "true or false"),
        ("label_list", "[]", "non-empty list"),
        ("label_list", 3, "non-empty list"),
        ("class_weight", "{0: -1}", "> 0"),
        ("class_weight", "heavy", "mapping"),
        ("text_column", None, "must not be null"),
        ("text_column", "null", "must not be null"),
        ("label_column", "", "must not be null"),
        ("text_column", ["a"], "string"),
    ],
)
def test_bad_value_names_the_key(name, value, hint):
    message = raises_one_line(build_config, {name: value}, match=hint)
    assert f"'{name}'" in message


def test_bad_override_value_names_the_key(tmp_path):
    raises_one_line(from_command_line, write_yaml(tmp_path / "run.yaml", {}), ["--dropout", "1.5"], match="'dropout'")


@pytest.mark.parametrize(
    "args, match",
    [
        (["learning_rate=3e-5"], "expected --key=value"),
        (["--"], "expected --key=value"),
        (["--epochs"], "needs a value"),
        (["--epochs", "--seed=1"], "needs a value"),
    ],
)
def test_malformed_overrides(args, match):
    raises_one_line(parse_overrides, args, match=match)


def test_missing_config_file(tmp_path):
    raises_one_line(load_config, tmp_path / "nope.yaml", match="config file not found: .*nope.yaml")


@pytest.mark.parametrize(
    "text, match",
    [("epochs: [1,\n", "not valid YAML"), ("- 1\n- 2\n", "must hold a mapping")],
)
def test_bad_config_file(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    raises_one_line(load_config, path, match=match)


def test_dump_config_round_trip(tmp_path):
    config = from_command_line(
        write_yaml(tmp_path / "run.yaml", {"data_path": "train.csv", "label_list": ["neg", "pos"], "clean_text": True}),
        ["--class_weight={neg: 1, pos: 3}", "--learning_rate=3e-5", "--max_seq_length", "64"],
    )
    dumped = tmp_path / "config.yaml"
    dumped.write_text(dump_config(config), encoding="utf-8")
    reloaded = load_config(dumped)
    assert reloaded.to_dict() == config.to_dict()
    assert list(yaml.safe_load(dumped.read_text())) == [key.name for key in KEYS]


def test_replace_validates():
    config = build_config({"epochs": 2})
    assert config.replace(epochs="4").epochs == 4
    assert config.epochs == 2
    with pytest.raises(TfbertError, match="'dropout'"):
        config.replace(dropout=2)


def test_unknown_attribute_is_attribute_error():
    with pytest.raises(AttributeError):
        build_config({}).learning_rat


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda c: pickle.loads(pickle.dumps(c))], ids=["deepcopy", "pickle"])
def test_config_copies(clone):
    config = build_config({"epochs": 3}, name="tiny")
    cloned = clone(config)
    assert (cloned.epochs, cloned.name, cloned.to_dict()) == (3, "tiny", config.to_dict())


def test_yaml_off_is_a_name_not_false(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("distribution_strategy: off\ntrainable: off\nclean_text: yes\ntext_column: no\nlabel_column: on\n")
    config = load_config(path)
    assert config.distribution_strategy == "off"  # YAML 1.1 would read it as false
    assert (config.trainable, config.clean_text) == (False, True)  # true/false keys still take yes/no/on/off
    assert (config.text_column, config.label_column) == ("no", "on")
    assert dump_config(load_config(path)) == dump_config(load_config({**yaml.safe_load(dump_config(config))}))


# --------------------------------------------------------------------------- strict reading


@pytest.mark.parametrize(
    "text, line, match",
    [
        ("epochs: 3\nseed: 1\nepochs: 4\n", 3, r"key 'epochs' is given twice \(first on line 1\); keep one"),
        ("class_weight: {0: 1, 0: 2}\n", 1, r"key '0' is given twice"),
        ("seed: 1\nepochs: 1:30\n", 2, r"'1:30' is what YAML 1\.1 reads as the base-60 .* number 90; write the number"),
        ("learning_rate: 1:30.5\n", 1, r"base-60 .* number 90\.5"),
        ("seed: 010\n", 1, r"'010' is what YAML 1\.1 reads as the octal number 8"),
        ("run_name: 0755\n", 1, r"octal number 493"),
        ("encoder:\n  max_seq_length: 64\n", 2, r"config key 'encoder' takes one value but is given a mapping \(an indented"),
        ("epochs:\n  - 3\n", 2, r"config key 'epochs' takes one value but is given a list"),
        ("1: x\n", 1, r"the key '1' is not a name \(YAML reads it as int\)"),
        ("epochs: 2\nnull: x\n", 2, r"the key 'null' is not a name \(YAML reads it as null\)"),
        ("? [a, b]\n: x\n", 1, r"a key that is a list or mapping"),
        ("seed: 1\nepochs:\t5\n", 2, r"a tab in a config file; indent and separate with spaces"),
        ("seed: &s 5\nepochs: *s\n", 1, r"anchors and aliases .* are not read"),
        ("<<: {epochs: 2}\n", 1, r"merge keys \(<<\) are not read"),
        ("seed: 1\n\nepochs: !!python/int 5\n", 3, r"tags \(!!python/int\) are not read"),
        ("run_name: !!str 5\n", 1, r"tags \(!!str\) are not read"),
        # errors of validation name the line of the file's key
        ("data_path: x.csv\n\nepochs: 0\n", 3, r"^config key 'epochs' must be >= 1, got 0"),
        ("seed: 2\nepoch: 3\n", 2, r"^unknown config key 'epoch': did you mean 'epochs'\?"),
        ("dropout: high\n", 1, r"^config key 'dropout': expected a number, got 'high'"),
        ("epochs: [1,\n", 2, r"is not valid YAML: .*expected"),
    ],
    ids=["repeated-key", "repeated-nested-key", "base-60-int", "base-60-float", "octal", "octal-str-key",
         "mapping-for-scalar", "list-for-scalar", "int-key", "null-key", "collection-key", "tab", "anchor-alias",
         "merge-key", "python-tag", "str-tag", "range", "unknown-key", "type", "invalid-yaml"],
)
def test_a_config_file_is_read_strictly_and_errors_name_the_line(tmp_path, text, line, match):
    path = tmp_path / "strict.yaml"
    path.write_text(text, encoding="utf-8")
    message = raises_one_line(load_config, path, match=match)
    assert message.endswith(f"({path}, line {line})"), message


def test_what_a_config_file_may_hold(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text("# comments and blank lines\n\nlabel_list: [neg, pos]\nclass_weight: {neg: 1, pos: 2}\n"
                    "run_name: 2026-12-01\nencoder:\n  tiny\nseed: 0x10\nwandb_group: '1:30'\nwandb_tags:\n  - a\n  - b\n"
                    "learning_rate: 1_0.0e-5\n", encoding="utf-8")
    config = load_config(path)
    assert (config.label_list, config.class_weight, config.wandb_tags) == (["neg", "pos"], {"neg": 1.0, "pos": 2.0}, ["a", "b"])
    assert (config.run_name, config.encoder, config.seed) == ("2026-12-01", "tiny", 16)  # a date stays text
    assert (config.learning_rate, config.wandb_group) == (pytest.approx(1e-4), "1:30")  # quoted: text


def test_an_override_replaces_the_file_value_and_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 0\n", encoding="utf-8")
    assert from_command_line(path, ["--epochs=2"]).epochs == 2
    message = raises_one_line(from_command_line, path, ["--epochs=-1"], match="'epochs' must be >= 1")
    assert "line" not in message  # the value came from the command line


@pytest.mark.parametrize(
    "data_path, name",
    [("data/reviews.csv", "reviews"), ("reviews.csv.gz", "reviews"), ("movie.v2.jsonl", "movie.v2"),
     ("toy-sentiment", "toy-sentiment"), (None, "config")],
)
def test_a_config_without_a_file_is_named_after_its_data(data_path, name):
    assert load_config(data_path=data_path).name == name
    assert load_config({"data_path": data_path}).name == name
