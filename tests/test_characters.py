from __future__ import annotations

import json
import unicodedata

from tfbert import characters


def test_the_classes_are_scanned_once_then_read_from_tfberts_cache_and_a_damaged_file_is_scanned_again(
        monkeypatch, tmp_path):
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path))
    expected = characters.scanned_classes()
    scans = []
    monkeypatch.setattr(characters, "scanned_classes", lambda: scans.append(1) or dict(expected))
    characters.character_classes.cache_clear()
    try:
        assert characters.character_classes() == expected and scans == [1]
        path = characters.cached_classes_path()
        assert path.parent.parent == tmp_path and f"unicode-{unicodedata.unidata_version}-" in path.name
        assert json.loads(path.read_text(encoding="utf-8")) == expected
        characters.character_classes.cache_clear()  # a new process
        assert characters.character_classes() == expected and scans == [1]  # read, not scanned
        for damaged in ("{not json", json.dumps({**expected, "space": 3}), json.dumps({"space": "[ ]"})):
            path.write_text(damaged, encoding="utf-8")
            characters.character_classes.cache_clear()
            assert characters.character_classes() == expected
            assert json.loads(path.read_text(encoding="utf-8")) == expected  # rewritten
        assert scans == [1, 1, 1, 1]
    finally:
        characters.character_classes.cache_clear()


def test_a_cache_that_cannot_be_written_only_costs_the_scan(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path / "file"))  # a file where the folder should be
    characters.character_classes.cache_clear()
    try:
        assert sorted(characters.character_classes()) == list(characters.CLASS_NAMES)
    finally:
        characters.character_classes.cache_clear()
