"""Reading a config file strictly: one flat YAML mapping, each key's line remembered, and
a one-line error for anything YAML accepts that the writer most likely did not mean.

>>> import pathlib, tempfile
>>> from tfbert.config_file import read_config_file
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.yaml"
>>> _ = path.write_text("epochs: 3\\nwandb_tags: [a, b]\\n")
>>> values, where = read_config_file(path, {"epochs": "value", "wandb_tags": "list"})
>>> values, where["wandb_tags"].endswith("x.yaml, line 2")
({'epochs': 3, 'wandb_tags': ['a', 'b']}, True)
>>> _ = path.write_text("epochs: 010\\n")
>>> read_config_file(path, {"epochs": "value"})
Traceback (most recent call last):
tfbert.errors.TfbertError: '010' is what YAML 1.1 reads as the octal number 8; write the number you mean, ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from tfbert.errors import TfbertError

class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true and false, so `distribution_strategy: off` is the
    string 'off' (YAML 1.1 reads off, on, yes and no as booleans; bool keys still accept them).
    Dates stay text (`run_name: 2026-12-01`). Anchors, aliases and explicit tags are
    refused where they appear: a flat config has no use for them."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused("anchors and aliases (&name, *name) are not read in config files; write each value out",
                           event.start_mark)
        if getattr(event, "tag", None) not in (None, "!"):
            tag = event.tag.replace(_YAML_TAG, "!!")
            raise _Refused(f"tags ({tag}) are not read in config files; write the plain value (quoted to make it text)",
                           event.start_mark)
        return super().compose_node(parent, index)


_YAML_TAG = "tag:yaml.org,2002:"
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_YAML_TAG + "bool", _YAML_TAG + "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_YamlLoader.add_implicit_resolver(_YAML_TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


class _Refused(Exception):
    """Something a config file holds that YAML accepts but the writer most likely did not mean."""

    def __init__(self, message: str, mark: Any):
        super().__init__(message)
        self.line = mark.line + 1


# The YAML nodes a key may be given, by what it takes: one value, a list or a mapping.
_ALLOWED_NODES = {"value": (yaml.ScalarNode,), "list": (yaml.ScalarNode, yaml.SequenceNode),
                  "mapping": (yaml.ScalarNode, yaml.MappingNode)}


def _check_scalar(node: yaml.ScalarNode) -> None:
    """Refuse the numbers YAML 1.1 reads otherwise than they look: 1:30 is 90, 010 is 8."""
    if node.tag not in (_YAML_TAG + "int", _YAML_TAG + "float"):
        return
    digits = node.value.lstrip("+-").replace("_", "")
    octal = node.tag == _YAML_TAG + "int" and len(digits) > 1 and digits[0] == "0" and digits.isdigit()
    if ":" in digits or octal:
        kind = "octal" if octal else "base-60 (minutes:seconds)"
        read_as = yaml.safe_load(node.value)  # what YAML 1.1 makes of it
        raise _Refused(f"'{node.value}' is what YAML 1.1 reads as the {kind} number {read_as}; write the number "
                       "you mean, or quote it to make it text", node.start_mark)


def _check_nodes(node: yaml.Node) -> None:
    """Refuse, anywhere under `node`: repeated keys, keys that are lists or mappings, merge keys, odd numbers."""
    if isinstance(node, yaml.ScalarNode):
        _check_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_nodes(item)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if key.tag == _YAML_TAG + "merge":
                raise _Refused("merge keys (<<) are not read in config files; write the keys out", key.start_mark)
            if not isinstance(key, yaml.ScalarNode):
                raise _Refused("a key that is a list or mapping; keys are names such as epochs", key.start_mark)
            _check_scalar(key)
            identity = (key.tag, key.value)
            if identity in seen:
                raise _Refused(f"key '{key.value}' is given twice (first on line {seen[identity]}); keep one", key.start_mark)
            seen[identity] = key.start_mark.line + 1
            _check_nodes(value)


def _check_top_level(root: yaml.MappingNode, takes: Mapping[str, str]) -> None:
    """Refuse top-level keys that are not names, and keys of `takes` given a list or
    mapping where they take one value."""
    for key, value in root.value:
        if key.tag != _YAML_TAG + "str":
            raise _Refused(f"the key '{key.value}' is not a name (YAML reads it as {key.tag.removeprefix(_YAML_TAG)}); "
                           "config keys are names such as epochs", key.start_mark)
        allowed = _ALLOWED_NODES[takes[key.value]] if key.value in takes else None
        if allowed and not isinstance(value, allowed):
            shape = "list" if isinstance(value, yaml.SequenceNode) else "mapping"
            raise _Refused(f"config key '{key.value}' takes one value but is given a {shape} "
                           "(an indented line under it?)", value.start_mark)


def _compose(text: str, takes: Mapping[str, str]) -> tuple[Any, dict[str, int]]:
    """The data in `text` and the line of each top-level key, composed with the project's
    loader and checked node by node."""
    loader = _YamlLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        _check_nodes(root)
        if not isinstance(root, yaml.MappingNode):
            return loader.construct_document(root), {}
        _check_top_level(root, takes)
        return loader.construct_document(root), {key.value: key.start_mark.line + 1 for key, _ in root.value}
    finally:
        loader.dispose()


def read_config_file(path: str | Path, takes: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The mapping in a YAML config file and where each key is ("configs/x.yaml, line 7"),
    `takes` saying what each known key takes ("value", "list" or "mapping"),
    or a one-line TfbertError naming the line of anything YAML accepts that the writer
    most likely did not mean: a repeated key, a tab, YAML 1.1's base-60 (1:30) and octal
    (010) numbers, a list or mapping for a key that takes one value, a key that is not a
    name (1:, null:), anchors, aliases, merge keys and tags."""
    path = Path(path)
    if not path.is_file():
        raise TfbertError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TfbertError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if "\t" in line:
            raise TfbertError(f"a tab in a config file; indent and separate with spaces ({path}, line {number})")
    try:
        loaded, lines = _compose(text, takes)
    except _Refused as err:
        raise TfbertError(f"{err} ({path}, line {err.line})") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" ({path}, line {where.line + 1})" if where else ""
        parts = [part for part in (getattr(err, "context", None), getattr(err, "problem", None)) if part]
        problem = ": " + ", ".join(parts) if parts else ""
        raise TfbertError(f"config file {path} is not valid YAML{problem}{line}") from None
    if loaded is None:
        return {}, {}
    if not isinstance(loaded, dict):
        raise TfbertError(f"config file {path} must hold a mapping of key: value lines")
    return loaded, {name: f"{path}, line {number}" for name, number in lines.items()}
