"""FullTokenizer's character tests as RE2 character classes, for the tf_text packer.

FullTokenizer decides what is a control character, whitespace, punctuation or an accent
with Python's `unicodedata`; `character_classes` turns the same tests into RE2 classes
that TensorFlow's string ops take. Where tensorflow_text's ICU and this Python's Unicode
versions disagree is listed in UNICODE_VERSION_DIFFERENCES (docs/design/tokenization.md).
Scanning Python's 1.1 million code points takes about half a second, so the classes are
kept in tfbert's cache, one file per Unicode version and version of this module.

>>> from tfbert.characters import character_classes
>>> sorted(character_classes())
['control', 'marks', 'space', 'word']
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from pathlib import Path


def _code_points(*ranges: int | tuple[int, int]) -> frozenset[int]:
    return frozenset(c for r in ranges for c in (range(r, r + 1) if isinstance(r, int) else range(r[0], r[1] + 1)))


# The only code points where TfTextPacker's words differ from FullTokenizer's (with do_lower_case).
# Why: docs/design/tokenization.md#unicode-versions
UNICODE_VERSION_DIFFERENCES = {
    "lower": _code_points(0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8, (0x10570, 0x1057A), (0x1057C, 0x1058A),
                          (0x1058C, 0x10592), (0x10594, 0x10595)),
    "nfd": _code_points(0x105C9, 0x105E4, 0x11383, 0x11385, 0x1138E, 0x11391, 0x113C5, (0x113C7, 0x113C8),
                        (0x16121, 0x16128), (0x16D68, 0x16D6A)),
    "final_sigma": _code_points(
        0x0888, (0x0898, 0x089F), (0x08C9, 0x08D2), 0x0C3C, 0x1734, 0x180F, (0x1AC1, 0x1ACE), 0x1DFA, 0x2C5F, 0xA7C1,
        0xA7D1, 0xA7D3, 0xA7D5, 0xA7D7, 0xA7D9, (0xA7F2, 0xA7F4), 0xFBC2, (0x10597, 0x105A1), (0x105A3, 0x105B1),
        (0x105B3, 0x105B9), (0x105BB, 0x105BC), (0x10780, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA),
        (0x10F82, 0x10F85), 0x11070, (0x11073, 0x11074), 0x110C2, (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB),
        (0x1AFFD, 0x1AFFE), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1DF00, 0x1DF09), (0x1DF0B, 0x1DF1E), 0x1E2AE),
}
if int(unicodedata.unidata_version.split(".")[0]) >= 15:
    UNICODE_VERSION_DIFFERENCES["final_sigma_unicode_15"] = _code_points(
        0x0ECE, (0x10EFD, 0x10EFF), 0x11241, (0x11F00, 0x11F01), (0x11F36, 0x11F3A), 0x11F40, 0x11F42, 0x13440,
        (0x13447, 0x13455), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), 0x1E08F, (0x1E4EB, 0x1E4EF))


def _ranges(code_points: list[int]) -> str:
    """An RE2 character class body for sorted code points: \\x{..}-\\x{..} ranges."""
    parts = []
    start = previous = code_points[0]
    for cp in code_points[1:] + [-1]:
        if cp == previous + 1:
            previous = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == previous else f"\\x{{{start:X}}}-\\x{{{previous:X}}}")
        start = previous = cp
    return "".join(parts)


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


CLASS_NAMES = ("control", "marks", "space", "word")


def cached_classes_path() -> Path:
    """Where character_classes keeps its result: named by Python's Unicode version and a
    digest of this module's source, so another Python or an edited module scans again."""
    from tfbert.assets import cache_dir

    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return cache_dir() / "character_classes" / f"unicode-{unicodedata.unidata_version}-{digest}.json"


def _read_cached(path: Path) -> dict[str, str] | None:
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(classes, dict) or sorted(classes) != list(CLASS_NAMES):
        return None
    return classes if all(isinstance(value, str) for value in classes.values()) else None


@functools.lru_cache(maxsize=None)
def character_classes() -> dict[str, str]:
    """RE2 classes for FullTokenizer's character tests (`scanned_classes`), read from
    tfbert's cache when an earlier process wrote them, else scanned and written there."""
    from tfbert import atomic

    path = cached_classes_path()
    classes = _read_cached(path)
    if classes is None:
        classes = scanned_classes()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, json.dumps(classes, sort_keys=True))
        except OSError:
            pass  # a read-only cache: scanned again by the next process
    return classes


def scanned_classes() -> dict[str, str]:
    """RE2 classes for FullTokenizer's character tests, from Python's unicodedata."""
    control, space, punctuation, marks = [], [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates never occur in UTF-8
        char = chr(cp)
        category = unicodedata.category(char)
        if cp == 0 or cp == 0xFFFD or (category in ("Cc", "Cf") and char not in "\t\n\r"):
            control.append(cp)
        elif char in "\t\n\r" or (category == "Zs" or char.isspace()) and char != " ":
            space.append(cp)  # the plain space needs no replacing
        if category.startswith("P") or 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            punctuation.append(cp)
        if category == "Mn":
            marks.append(cp)
    cjk = "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _CJK_RANGES)
    return {
        "control": f"[{_ranges(control)}]+",
        "space": f"[{_ranges(space)}]",
        "marks": f"[{_ranges(marks)}]+",
        "word": f"([{_ranges(punctuation)}{cjk}])",  # characters that are words of their own
    }
