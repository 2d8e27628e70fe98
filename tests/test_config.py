"""Config: defaults, YAML plus sweep-style overrides, coercion, and one-line errors."""

import copy
import pickle

import pytest
import yaml
from conftest import raises_one_line

from tfbert.config import KEYS, build_config, dump_config, from_command_line, load_config, parse_overrides
from tfbert.errors import TfbertError


def write_yaml(tmp_path, values, name="run.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


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
    path = write_yaml(tmp_path, {"learning_rate": 1e-4, "epochs": 3})
    config = from_command_line(path, overrides)
    assert config.learning_rate == pytest.approx(3e-5)
    assert config.epochs == 3


def test_several_overrides_mixed_forms(tmp_path):
    path = write_yaml(tmp_path, {"epochs": 3})
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
        write_yaml(tmp_path, {}),
        ["--trainable=false", "--label_list", "[0, 1]", "--class_weight={0: 1, 1: 16}", "--run_name=null"],
    )
    assert config.trainable is False
    assert config.label_list == [0, 1]
    assert config.class_weight == {0: 1.0, 1: 16.0}
    assert config.run_name is None


@pytest.mark.parametrize("source", ["yaml", "command line"])
def test_unknown_key_names_closest(tmp_path, source):
    if source == "yaml":
        path, overrides = write_yaml(tmp_path, {"learning_rat": 1e-5}), []
    else:
        path, overrides = write_yaml(tmp_path, {}), ["--learning_rat=1e-5"]
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
    raises_one_line(from_command_line, write_yaml(tmp_path, {}), ["--dropout", "1.5"], match="'dropout'")


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
        write_yaml(tmp_path, {"data_path": "train.csv", "label_list": ["neg", "pos"], "clean_text": True}),
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
