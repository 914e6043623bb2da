"""Lucene's English analysis chain and SmallFloat norms, against what Lucene 9 produces."""

import collections
import gzip

import pytest

from slimrank.lucene import (
    LENGTH_TABLE,
    LuceneAnalyzer,
    bag_of_tokens,
    byte4_to_int,
    int_to_byte4,
    porter_stem,
    standard_tokenize,
)

from .conftest import MINI

# StandardTokenizer (UAX #29 word boundaries) on hand-picked strings, as Lucene 9 splits them.
TOKENIZER_CASES = {
    "The dog's bone": ["The", "dog's", "bone"],
    "state-of-the-art e-mail": ["state", "of", "the", "art", "e", "mail"],
    "pi is 3.14, not 1,000 or 3.14.": ["pi", "is", "3.14", "not", "1,000", "or", "3.14"],
    "wasn't O'Neil's don\u2019t": ["wasn't", "O'Neil's", "don\u2019t"],
    "see http://www.example.com/a?b=1": ["see", "http", "www.example.com", "a", "b", "1"],
    "mail john.doe@example.com": ["mail", "john.doe", "example.com"],
    "a b I x 5 $": ["a", "b", "I", "x", "5"],  # one-character tokens are kept
    "U.S.A. e.g. 10:30 a:b": ["U.S.A", "e.g", "10", "30", "a:b"],  # colon joins letters only
    "foo_bar __init__ _ 1_a a.1 1.5x 2nd": ["foo_bar", "__init__", "1_a", "a", "1", "1.5x", "2nd"],
    "Tylenol\u00ae Coke\u2122 \u00a92019": [
        "Tylenol",
        "\u00ae",
        "Coke",
        "\u2122",
        "\u00a9",
        "2019",
    ],
    "caf\u00e9 na\u00efve": ["caf\u00e9", "na\u00efve"],
    "\u65e5\u672c \u30c6\u30ad\u30b9\u30c8 \u3072\u3089": [
        "\u65e5",
        "\u672c",
        "\u30c6\u30ad\u30b9\u30c8",
        "\u3072",
        "\u3089",
    ],  # fmt: skip
    "\U0001f600\U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8": [
        "\U0001f600",
        "\U0001f44d\U0001f3fd",
        "\U0001f1fa\U0001f1f8",
    ],  # fmt: skip
}


@pytest.mark.parametrize("text", TOKENIZER_CASES)
def test_standard_tokenizer_splits_as_lucene(text):
    assert standard_tokenize(text) == TOKENIZER_CASES[text]
    assert sorted(bag_of_tokens(text)) == sorted(TOKENIZER_CASES[text])


def test_tokens_longer_than_255_characters_are_cut():
    assert standard_tokenize("x" * 600 + " y") == ["x" * 255, "x" * 255, "x" * 90, "y"]


def test_english_chain_possessives_lower_case_stop_words_and_porter():
    analyzer = LuceneAnalyzer()
    text = "The dogs' bowls were running; it's John\u2019s USA X of Bob\uff07S"
    expected = ["dog", "bowl", "were", "run", "john", "usa", "x", "bob"]
    assert sorted(analyzer(text)) == sorted(expected)  # a bag of terms: order is not kept
    assert analyzer("the dogs' bowls were running") == expected[:4]


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("agreed", "agre"),
        ("matting", "mat"), ("mating", "mate"), ("meetings", "meet"), ("happy", "happi"),
        ("relational", "relat"), ("generalization", "gener"), ("hopefulness", "hope"),
        # Lucene's PorterStemmer, unlike Snowball's porter (PyStemmer): two-letter words are
        # left alone, and -logi/-bli become -log/-ble.
        ("us", "us"), ("ps", "ps"), ("methodology", "methodolog"), ("horribly", "horribl"),
    ],
)  # fmt: skip
def test_porter_stemmer_is_lucenes(word, stem):
    assert porter_stem(word) == stem


# SmallFloat.intToByte4 / byte4ToInt (Lucene 9): exact below 40, then 4 significant bits.
NORMS = {0: 0, 1: 1, 23: 23, 24: 24, 30: 30, 39: 39, 40: 40, 41: 40, 42: 41, 100: 57, 1000: 87}


def test_norm_encoding_matches_smallfloat():
    for length in range(40):
        assert int_to_byte4(length) == length and byte4_to_int(length) == length
    for length, byte in NORMS.items():
        assert int_to_byte4(length) == byte
    assert byte4_to_int(57) == 96 and byte4_to_int(87) == 984
    assert LENGTH_TABLE[40:44] == (40, 42, 44, 46) and LENGTH_TABLE[255] == 2013265944
    # Decoding rounds down: every length maps to the largest table entry not above it.
    for length in range(2000):
        decoded = byte4_to_int(int_to_byte4(length))
        assert decoded <= length < byte4_to_int(int_to_byte4(length) + 1)


@pytest.mark.skipif(not MINI.is_dir(), reason=f"MS MARCO-mini is missing at {MINI}")
def test_bag_of_tokens_counts_equal_the_ordered_tokenizer_on_the_collection():
    with gzip.open(MINI / "collection.tsv.gz", "rt", encoding="utf-8") as handle:
        texts = [line.split("\t", 1)[1] for _, line in zip(range(3000), handle, strict=False)]
    for text in texts:
        assert collections.Counter(bag_of_tokens(text)) == collections.Counter(
            standard_tokenize(text)
        )
