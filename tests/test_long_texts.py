"""Long texts (issue 24, criteria 1, 3 and 5): tfbert/long_texts.py's window rule and the packers'
long-text paths.

* window_plan and first_segments, brute forced over small token counts, window sizes, strides,
  caps and selections: windows lie within the text, cover it, start `window_stride` apart, end
  at the text's end; `even` and `ends` keep the windows they say; a pair fits every window as
  BERT's own pair truncation (classifier_data_lib) would keep it.
* head_tail's head and tail.
* Packed windows (pack_document): [CLS] a [SEP] (b [SEP]) per window, the pair alike in each.
* Parity: the py_function and tf_text packers give the same four features for truncate,
  head_tail and windows, on random, tricky, control-only and over-cap texts; cut_windows and
  head_and_tail (in the graph) against window_plan and head_tail (in Python).
* The config keys: one-line errors, LongTexts.from_config, dump_config; token_limit.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import yaml

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.data import classifier_data_lib

from conftest import raises_one_line
from texts import TRICKY
from tfbert import hub_format, packers
from tfbert.config import dump_config, load_config
from tfbert.long_texts import LongTexts, cut_windows, first_segments, head_and_tail, head_tail, window_plan

UNCAPPED = 10**6  # max_windows that keeps every window
STRIDES = (None, 1, 2, 5, 9)
CAPS = (1, 2, 3, 4, 7)
LONG_TEXT_KEYS = ("long_texts", "window_stride", "max_windows", "window_selection", "window_pooling")


def bert_pair_truncation(length_a: int, length_b: int, budget: int) -> tuple[int, int]:
    """(tokens of a, tokens of b) that BERT's reference code keeps of a pair within `budget`."""
    tokens_a, tokens_b = list(range(length_a)), list(range(length_b))
    classifier_data_lib._truncate_seq_pair(tokens_a, tokens_b, budget)
    return len(tokens_a), len(tokens_b)


def plan_cases():
    """(max_seq_length, length_a, length_b, window_stride) over small ranges."""
    return itertools.product(range(4, 21), range(0, 61), range(0, 9), STRIDES)


# --------------------------------------------------------------------------- window_plan


def _check_full_plan(m: int, la: int, lb: int, stride: int | None) -> tuple[int, list[int]]:
    content, starts = window_plan(la, lb, m, LongTexts("windows", stride, UNCAPPED))
    assert min(la, 1) <= content <= m - 2
    if lb:  # BERT's pair truncation leaves each window's segment whole, the pair as it keeps it of the text
        width = min(content, la)
        assert bert_pair_truncation(width, lb, m - 3) == (width, bert_pair_truncation(la, lb, m - 3)[1])
    else:
        assert content == m - 2
    step = max(1, min(stride or content - content // 8, content))
    assert starts[0] == 0 and all(0 < b - a <= step for a, b in zip(starts, starts[1:]))
    assert all(b - a == step for a, b in zip(starts, starts[1:-1]))  # every gap but the last is the stride
    assert all(start + content <= max(la, content) for start in starts)  # within the text
    assert min(starts[-1] + content, la) == la and (la < content or starts[-1] + content == la)  # ends at its end
    covered = set().union(*(range(s, s + content) for s in starts))
    assert covered >= set(range(la))
    return content, starts


def test_window_plan_windows_cover_the_text_within_it_stride_apart_and_end_at_its_end():
    for m, la, lb, stride in plan_cases():
        _check_full_plan(m, la, lb, stride)


def _check_selection(full: list[int], kept: list[int], cap: int, selection: str) -> None:
    assert kept == sorted(set(kept)) and set(kept) <= set(full)  # increasing, a subset of all the windows
    if len(full) <= cap:
        assert kept == full
        return
    assert len(kept) == cap
    if selection == "ends":
        assert kept == full[: (cap + 1) // 2] + full[len(full) - cap // 2:]
    elif cap == 1:
        assert kept == full[:1]
    else:
        index = [full.index(start) for start in kept]
        assert index[0] == 0 and index[-1] == len(full) - 1  # first and last kept
        gaps = np.diff(index)
        assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_window_plan_keeps_at_most_max_windows_chosen_evenly_or_from_the_ends():
    for m, la, lb, stride in plan_cases():
        if la % 3 and la < 55:  # every third length (and the longest): the selection is the same rule at each
            continue
        content, full = window_plan(la, lb, m, LongTexts("windows", stride, UNCAPPED))
        for cap, selection in itertools.product(CAPS, ("even", "ends")):
            kept_content, kept = window_plan(la, lb, m, LongTexts("windows", stride, cap, selection))
            assert kept_content == content
            _check_selection(full, kept, cap, selection)


def test_first_segments_are_the_windows_tokens_and_a_one_window_document_is_truncates_segment():
    for m, la, lb, stride in itertools.product(range(4, 21, 3), range(0, 61, 2), (0, 1, 5), STRIDES):
        tokens = [f"t{i}" for i in range(la)]
        settings = LongTexts("windows", stride, 3, "ends")
        content, starts = window_plan(la, lb, m, settings)
        segments = first_segments(tokens, lb, m, settings)
        assert segments == [tokens[s:s + content] for s in starts]
        if len(segments) == 1:
            assert segments == first_segments(tokens, lb, m, LongTexts("truncate")) == [tokens]


def test_default_stride_is_the_windows_content_less_an_eighth():
    assert window_plan(1000, 0, 128, LongTexts("windows", max_windows=UNCAPPED))[1][1] == 111
    for m in range(4, 200):
        content = m - 2
        starts = window_plan(10 * m, 0, m, LongTexts("windows", max_windows=UNCAPPED))[1]
        assert starts[1] == content - content // 8


# --------------------------------------------------------------------------- head_tail


def test_head_tail_keeps_the_first_quarter_and_the_rest_from_the_end():
    for n, content in itertools.product(range(0, 51), range(1, 21)):
        tokens = list(range(n))
        kept = head_tail(tokens, content)
        if n <= content:
            assert kept == tokens
            continue
        head = content // 4
        assert len(kept) == content
        assert kept[:head] == tokens[:head] and kept[head:] == tokens[n - (content - head):]


def test_head_tail_segment_leaves_room_for_the_pair_as_bert_truncates_it():
    tokens = [f"t{i}" for i in range(40)]
    for m, lb in itertools.product(range(4, 30), range(0, 20)):
        (segment,) = first_segments(tokens, lb, m, LongTexts("head_tail"))
        expected = bert_pair_truncation(40, lb, m - 3)[0] if lb else m - 2
        assert len(segment) == expected
        assert segment[: expected // 4] == tokens[: expected // 4] and segment[-1] == tokens[-1]


# --------------------------------------------------------------------------- packed windows


WORDS = [w for w in hub_format.tiny_vocabulary() if w.isalpha() and len(w) > 2]


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def test_packed_windows_have_cls_sep_and_the_same_pair_in_each(tokenizer):
    rng = random.Random(0)
    cls, sep = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    for m, count, pair_words in itertools.product((8, 16, 33), (0, 5, 40, 150), (0, 2, 30)):
        text, pair = words(rng, count), words(rng, pair_words) or None
        settings = LongTexts("windows", None, 50)
        ids_a = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
        ids_b = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(pair)) if pair else []
        content, starts = window_plan(len(ids_a), len(ids_b), m, settings)
        windows = packers.pack_document(tokenizer, text, pair, m, settings)
        assert len(windows) == len(starts)
        tails = set()
        for (ids, types), start in zip(windows, starts):
            segment = ids_a[start:start + content]
            assert len(ids) == len(types) <= m
            assert ids[: len(segment) + 2] == [cls, *segment, sep]
            assert types == [0] * (len(segment) + 2) + [1] * (len(ids) - len(segment) - 2)
            tails.add(tuple(ids[len(segment) + 2:]))
        assert len(tails) == 1
        if ids_b and len(ids_b) <= (m - 3) // 2:
            assert tails == {(*ids_b, sep)}  # kept whole
        if len(windows) == 1:
            assert windows[0] == packers.pack_example(tokenizer, text, pair, m)


# --------------------------------------------------------------------------- the two packers

PARITY_SETTINGS = [  # (max_seq_length, LongTexts)
    (16, LongTexts("truncate")),
    (16, LongTexts("head_tail")),
    (16, LongTexts("windows")),
    (12, LongTexts("windows", 3, 3, "ends")),
    (24, LongTexts("windows", 7, 1, "even")),
    (9, LongTexts("windows", None, 5, "even")),
]


def parity_texts() -> list[str]:
    """Texts of the tiny vocabulary's words of 0 to 300 words, tricky texts, control characters only."""
    rng = random.Random(1)
    random_texts = [words(rng, rng.randint(0, 300)) for _ in range(40)]
    return [*random_texts, *TRICKY, "\x00\x07\x1b", "\u200b\ufeff\x7f"]


def assert_same_features(packed: dict, reference: dict, windows: bool) -> None:
    names = (*packers.FEATURE_NAMES, packers.WINDOW_COUNTS) if windows else packers.FEATURE_NAMES
    assert set(packed) == set(reference) == set(names)
    for name in names:
        np.testing.assert_array_equal(packed[name].numpy(), reference[name].numpy(), err_msg=name)


@pytest.mark.parametrize("m,settings", PARITY_SETTINGS, ids=lambda v: str(v))
def test_both_packers_give_the_same_windows(tiny_vocab_file, m, settings):
    texts = parity_texts()
    pairs = [texts[(7 * i + 3) % len(texts)] for i in range(len(texts))]
    made = [packers.make_packer(kind, tiny_vocab_file, True, m, settings) for kind in ("py_function", "tf_text")]
    for with_pairs in (False, True):
        args = (tf.constant(texts), tf.constant(pairs)) if with_pairs else (tf.constant(texts),)
        reference, packed = (packer(*args) for packer in made)
        assert_same_features(packed, reference, settings.windows)
        if settings.windows:
            counts = reference[packers.WINDOW_COUNTS].numpy()
            assert counts.sum() == len(reference["input_word_ids"]) and 1 <= counts.min()
            assert counts.max() <= settings.max_windows


@pytest.mark.parametrize("kind", ["py_function", "tf_text"])
def test_a_text_of_control_characters_only_is_one_cls_sep_window(tiny_vocab_file, kind):
    packer = packers.make_packer(kind, tiny_vocab_file, True, 16, LongTexts("windows"))
    cls, sep = packers.load_tokenizer(tiny_vocab_file, True).convert_tokens_to_ids(["[CLS]", "[SEP]"])
    packed = packer(tf.constant(["\x00\x07\x1b", "\u200b\ufeff\x7f", ""]))
    assert packed[packers.WINDOW_COUNTS].numpy().tolist() == [1, 1, 1]
    assert packed["input_word_ids"].numpy().tolist() == [[cls, sep]] * 3


@pytest.mark.parametrize("mode", ["head_tail", "windows"])
def test_both_packers_agree_on_a_text_over_the_character_cap(tiny_vocab_file, mode):
    settings = LongTexts(mode, None, 3, "ends")
    made = [packers.make_packer(kind, tiny_vocab_file, True, 16, settings) for kind in ("py_function", "tf_text")]
    cap = packers.head_chars(made[0].token_limit)
    assert made[1].token_limit == made[0].token_limit == 4 * 8 * 14
    rng = random.Random(2)
    unit = " " + "x" * 450 + " \t\n" * 30 + words(rng, 1)  # few tokens for many characters: the cap bites
    huge = words(rng, 200) + unit * (2 * 10**6 // len(unit))  # 2 million characters
    assert len(huge) > 10 * cap
    texts = tf.constant([huge, "a short one"])
    reference, packed = (packer(texts) for packer in made)
    assert_same_features(packed, reference, settings.windows)
    if settings.windows:
        assert reference[packers.WINDOW_COUNTS].numpy().tolist() == [3, 1]
    tokenizer = packers.load_tokenizer(tiny_vocab_file, True)
    head = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(huge[:2000]))[:3]
    assert reference["input_word_ids"].numpy()[0, 1:4].tolist() == head  # the text's head, not a later part


# --------------------------------------------------------------------------- in the graph


def random_documents(rng: np.random.Generator, count: int, longest: int) -> list[list[int]]:
    return [rng.integers(1, 1000, rng.integers(0, longest + 1)).tolist() for _ in range(count)]


@pytest.mark.parametrize("m,stride,cap,selection", [(8, None, 4, "even"), (11, 2, 3, "ends"), (16, 5, 1, "even"),
                                                    (6, None, 2, "ends"), (20, 18, 6, "even")])
def test_cut_windows_cuts_as_window_plan(m, stride, cap, selection):
    rng = np.random.default_rng(m)
    settings = LongTexts("windows", stride, cap, selection)
    docs_a, docs_b = random_documents(rng, 60, 80), random_documents(rng, 60, 12)
    for pairs in (None, docs_b):
        windows, kept_pairs, counts = cut_windows(tf.ragged.constant(docs_a, tf.int64),
                                                  None if pairs is None else tf.ragged.constant(pairs, tf.int64),
                                                  m, settings)
        expected, expected_pairs, expected_counts = [], [], []
        for row, tokens in enumerate(docs_a):
            length_b = 0 if pairs is None else len(pairs[row])
            content, starts = window_plan(len(tokens), length_b, m, settings)
            expected += [tokens[s:s + content] for s in starts]
            expected_pairs += [pairs[row]] * len(starts) if pairs is not None else []
            expected_counts.append(len(starts))
        assert windows.to_list() == expected
        assert counts.numpy().tolist() == expected_counts
        assert (kept_pairs is None) == (pairs is None)
        if pairs is not None:
            assert kept_pairs.to_list() == expected_pairs


def test_head_and_tail_in_the_graph_is_head_tail():
    rng = np.random.default_rng(0)
    docs_a, docs_b = random_documents(rng, 80, 60), random_documents(rng, 80, 10)
    for m, pairs in itertools.product((5, 8, 17, 30), (None, docs_b)):
        kept = head_and_tail(tf.ragged.constant(docs_a, tf.int64),
                             None if pairs is None else tf.ragged.constant(pairs, tf.int64), m)
        expected = [first_segments(tokens, 0 if pairs is None else len(pairs[row]), m, LongTexts("head_tail"))[0]
                    for row, tokens in enumerate(docs_a)]
        assert kept.to_list() == expected


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("values,match", [
    ({"max_windows": 0}, "max_windows.*>= 1"),
    ({"max_windows": -3}, "max_windows.*>= 1"),
    ({"window_stride": 0}, "window_stride.*>= 1"),
    ({"window_stride": 127}, "window_stride 127 .*at most 126"),
    ({"window_stride": 15, "max_seq_length": 16}, "at most 14"),
    ({"long_texts": "sliding"}, "long_texts.*truncate, head_tail, windows.*sliding"),
    ({"window_selection": "middle"}, "window_selection.*even, ends"),
    ({"window_pooling": "max"}, "window_pooling.*mean, attention"),
])
def test_bad_long_text_keys_are_one_line_errors(values, match):
    raises_one_line(load_config, values, match=match)


def test_the_largest_stride_is_accepted():
    assert load_config({"window_stride": 14, "max_seq_length": 16}).window_stride == 14


def test_long_texts_from_config_carries_the_keys_and_dump_config_records_them():
    config = load_config({"long_texts": "windows", "window_stride": 50, "max_windows": 6,
                          "window_selection": "ends", "window_pooling": "attention"})
    assert LongTexts.from_config(config) == LongTexts("windows", 50, 6, "ends")
    assert LongTexts.from_config(load_config()) == LongTexts()
    recorded = yaml.safe_load(dump_config(config))  # what config.yaml holds
    assert {key: recorded[key] for key in LONG_TEXT_KEYS} == {
        "long_texts": "windows", "window_stride": 50, "max_windows": 6, "window_selection": "ends",
        "window_pooling": "attention"}
    assert LongTexts.from_config(load_config(recorded)) == LongTexts("windows", 50, 6, "ends")


def test_token_limit_is_max_seq_length_for_truncate_else_four_times_the_windows():
    for m, cap in itertools.product((3, 16, 128, 512), (1, 4, 8, 9, 20)):
        assert LongTexts("truncate", None, cap).token_limit(m) == m
        for mode in ("head_tail", "windows"):
            assert LongTexts(mode, None, cap).token_limit(m) == 4 * max(cap, 8) * (m - 2)
    assert LongTexts("windows").token_limit(128) == 4032
