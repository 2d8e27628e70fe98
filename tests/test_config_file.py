"""The strict config-file reader: a flat mapping, each key's line, one-line errors (the
errors a user meets through load_config are tested in test_config.py)."""

from __future__ import annotations

import doctest

import pytest

from tfbert import config_file
from tfbert.errors import TfbertError


def test_the_docstring_examples_run():
    failures, tries = doctest.testmod(config_file, optionflags=doctest.ELLIPSIS)
    assert (failures, tries > 0) == (0, True)


@pytest.mark.parametrize("takes, text, shape", [
    ({"tags": "value"}, "tags:\n  - a\n", "list"),
    ({"tags": "list"}, "tags:\n  a: 1\n", "mapping"),
    ({"weights": "mapping"}, "weights:\n  - a\n", "list"),
])
def test_a_key_is_given_only_the_shape_it_takes(tmp_path, takes, text, shape):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(TfbertError, match=rf"^config key '\w+' takes one value but is given a {shape} .*line 2\)$"):
        config_file.read_config_file(path, takes)


def test_keys_it_is_not_told_about_are_read_as_written(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("weights:\n  a: 1\nunknown:\n  - 2\n")
    values, where = config_file.read_config_file(path, {"weights": "mapping"})
    assert values == {"weights": {"a": 1}, "unknown": [2]}
    assert where == {"weights": f"{path}, line 1", "unknown": f"{path}, line 3"}
