"""Lucene's English analysis chain and BM25 length norms, reproduced in Python.

Anserini indexes MS MARCO with Lucene's default English analyzer: StandardTokenizer (word
boundaries of Unicode UAX #29), EnglishPossessiveFilter, LowerCaseFilter, StopFilter (the 33
English stop words) and PorterStemFilter. BM25Similarity then scores with document lengths
stored as one-byte norms (SmallFloat.intToByte4), exact below 24 tokens and coarser above.

- The tokenizer is the grammar of Lucene's ``StandardTokenizerImpl.jflex`` written as one
  pattern of the ``regex`` module, whose ``\\p{Word_Break=...}`` classes carry the Unicode
  data the JFlex grammar is compiled from. ICU's word break iterator was not used: ICU's
  rules differ from plain UAX #29 where Lucene follows it (ICU drops the colon from MidLetter,
  segments CJK and Thai with dictionaries, gives no emoji tokens), and it is slower from Python.
  Lucene keeps the longest match of its rules; the pattern's greedy quantifiers give the same
  spans for these rules, and the hand-picked cases in the tests check the known edge cases.
  Tokens longer than 255 characters are cut at 255 as Lucene's fixed scanner buffer cuts them.
- The stemmer is a line-by-line port of Lucene's ``PorterStemmer.java`` (Martin Porter's own
  Java release 3). PyStemmer's ``porter`` (Snowball) is not the same algorithm at the edges:
  Lucene leaves words of one or two letters alone (Snowball turns ``us`` into ``u``) and the
  two differ on some longer words, which changes postings. Each distinct token is stemmed
  once per analyzer (a cache), so the port costs little.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import regex

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, which Anserini's default analyzer removes.
ENGLISH_STOP_WORDS = frozenset(
    (
        "a an and are as at be but by for if in into is it no not of on or such that the their "
        "then there these they this to was will with"
    ).split()
)

MAX_TOKEN_LENGTH = 255  # StandardTokenizer's default maxTokenLength (its scanner buffer)


def _token_pattern() -> regex.Pattern:
    """StandardTokenizerImpl.jflex (Lucene 9): every rule that yields a token, one alternation."""
    ext = r"[\p{WB=Format}\p{WB=Extend}\p{WB=ZWJ}]*"  # WB4: X (Extend | Format | ZWJ)* -> X

    def ex(char_class: str, tail: str = ext) -> str:
        return f"(?:{char_class}{tail})"

    ahletter = ex(r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}]")
    numeric = ex(r"[\p{WB=Numeric}\uFF10-\uFF19]")  # plus the full-width digits
    katakana = ex(r"\p{WB=Katakana}")
    mid_letter = ex(r"[\p{WB=MidLetter}\p{WB=MidNumLet}\p{WB=Single_Quote}]")
    mid_numeric = ex(r"[\p{WB=MidNum}\p{WB=MidNumLet}\p{WB=Single_Quote}]")
    extend_num_let = ex(r"\p{WB=ExtendNumLet}")
    hebrew = ex(r"\p{WB=Hebrew_Letter}")
    single_quote = ex(r"\p{WB=Single_Quote}")
    double_quote = ex(r"\p{WB=Double_Quote}")
    # The word rule (WB5-WB13b); it also covers the numeric, Hangul and Katakana rules, which
    # only give the same spans another token type.
    core = (
        rf"(?:{katakana}(?:{extend_num_let}*{katakana})*"
        rf"|(?:{hebrew}(?:{single_quote}|{double_quote}{hebrew})"
        rf"|{numeric}(?:(?:{extend_num_let}*|{mid_numeric}){numeric})*"
        rf"|{ahletter}(?:(?:{extend_num_let}*|{mid_letter}){ahletter})*)+)"
    )
    word = rf"{extend_num_let}*{core}(?:{extend_num_let}+{core})*{extend_num_let}*"
    # The emoji rule (UTS #51 emoji sequences, as the grammar spells them).
    sans_sel = r"[[\p{WB=Format}\p{WB=Extend}\p{WB=ZWJ}]--[\uFE0E\uFE0F]]*"
    rkam = r"\p{WB=Regional_Indicator}0-9#*\u00A9\u00AE\u2122\u3030\u303D\p{Emoji_Modifier}"
    emoji_char = ex(rf"[\p{{Extended_Pictographic}}[\p{{Emoji}}--[{rkam}]]]", sans_sel)
    modifier_base = ex(r"\p{Emoji_Modifier_Base}", sans_sel)
    modifier = ex(r"\p{Emoji_Modifier}", sans_sel)
    emoji_seq = rf"(?:\p{{WB=ZWJ}}*{emoji_char}\uFE0F?|(?:\p{{WB=ZWJ}}*{modifier_base})?{modifier})"
    keycap_base = ex("[0-9#*]", sans_sel)
    keycap = ex(r"\u20E3", sans_sel)
    regional_indicator = ex(r"\p{WB=Regional_Indicator}")
    emoji = (
        rf"{emoji_seq}(?:[\U000E0020-\U000E007E]+\U000E007F|(?:\p{{WB=ZWJ}}{emoji_seq})*)"
        rf"|{keycap_base}\uFE0F?{keycap}"
        rf"|{regional_indicator}{{2}}"
    )
    southeast_asian = ex(r"\p{LB=Complex_Context}") + "+"
    single = ex(r"[\p{Script=Han}\p{Script=Hiragana}]")  # one ideograph or hiragana
    return regex.compile(
        rf"{word}|{emoji}|{southeast_asian}|{single}", regex.VERSION1 | regex.UNICODE
    )


TOKEN = _token_pattern()

# The same grammar restricted to ASCII text, for the standard library's faster ``re``. In ASCII,
# ALetter is [A-Za-z], Numeric [0-9], MidLetter ":", MidNumLet ".", MidNum "," and ";",
# Single_Quote "'" and ExtendNumLet "_"; no ASCII character is Format, Extend, Hebrew, Katakana
# or an emoji outside the RKAM set, so the other rules never match. Letters and digits join
# directly (WB9, WB10) and through underscores (WB13a, WB13b); ":" only joins letters (WB6, WB7),
# "," and ";" only digits (WB11, WB12), "." and "'" either.
ASCII_TOKEN = re.compile(
    r"_*[A-Za-z0-9]+"
    r"(?:(?:_+|(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))[A-Za-z0-9]+)*_*",
    re.ASCII,
)


def standard_tokenize(text: str) -> list[str]:
    """Lucene's StandardTokenizer: the UAX #29 words of ``text`` in order, case and all."""
    return _findall(ASCII_TOKEN if text.isascii() else TOKEN, text)


def bag_of_tokens(text: str) -> list[str]:
    """The tokens of :func:`standard_tokenize` in another order (all BM25 needs), faster.

    No token spans white space, so the white-space separated pieces that are pure ASCII go
    through the ASCII pattern together and only the rest through the full Unicode one.
    """
    if text.isascii():
        return _findall(ASCII_TOKEN, text)
    ascii_parts, other_parts = [], []
    for part in text.split():
        (ascii_parts if part.isascii() else other_parts).append(part)
    return _findall(ASCII_TOKEN, " ".join(ascii_parts)) + _findall(TOKEN, " ".join(other_parts))


def _findall(pattern, text: str) -> list[str]:
    tokens = pattern.findall(text)
    if any(len(t) > MAX_TOKEN_LENGTH for t in tokens):
        return _tokenize_with_cuts(pattern, text)
    return tokens


def _tokenize_with_cuts(pattern, text: str) -> list[str]:
    """The rare slow path: a token is cut at 255 characters and scanning resumes after it."""
    tokens, pos = [], 0
    while (m := pattern.search(text, pos)) is not None:
        if m.end() - m.start() > MAX_TOKEN_LENGTH:
            m = pattern.match(text, m.start(), m.start() + MAX_TOKEN_LENGTH)
        tokens.append(m.group())
        pos = m.end()
    return tokens


def strip_possessive(token: str) -> str:
    """EnglishPossessiveFilter: drop a trailing 's (apostrophe, U+2019 or U+FF07; s or S)."""
    if len(token) >= 2 and token[-2] in "'\u2019\uff07" and token[-1] in "sS":
        return token[:-2]
    return token


class LuceneAnalyzer:
    """Anserini's DefaultEnglishAnalyzer: tokenize, possessives, lower case, stop, stem.

    ``stopwords`` is a set of words (or None to keep all); ``stemmer`` is ``"porter"`` (Lucene's
    PorterStemFilter), another PyStemmer algorithm name, or None.
    """

    def __init__(self, stopwords: Iterable[str] | None = ENGLISH_STOP_WORDS, stemmer="porter"):
        self.stopwords = frozenset(stopwords or ())
        if stemmer == "porter":
            self._stem = porter_stem
        elif stemmer:
            import Stemmer  # PyStemmer

            self._stem = Stemmer.Stemmer(stemmer).stemWord
        else:
            self._stem = None
        self._terms: dict[str, str] = {}  # raw token -> indexed term ("" for a stop word)

    def _term(self, token: str) -> str:
        word = strip_possessive(token).lower()
        if not word or word in self.stopwords:
            return ""
        return self._stem(word) if self._stem else word

    def __call__(self, text: str) -> list[str]:
        tokens = bag_of_tokens(text)
        cache = self._terms
        get = cache.get
        terms = [get(t) for t in tokens]
        if None in terms:  # tokens not seen before
            for token in tokens:
                if token not in cache:
                    cache[token] = self._term(token)
            terms = [cache[t] for t in tokens]
        return [t for t in terms if t]

    def analyze(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(text) for text in texts]

    def term_ids(self, texts: Iterable[str], vocab: dict[str, int]) -> Iterator[list[int]]:
        """Each text's terms as ids in ``vocab`` (new terms are added): the same analysis as
        ``__call__`` with one dictionary look-up per token, for indexing."""
        ids_of: dict[str, int] = {}  # raw token -> term id, -1 for a stop word
        get = ids_of.get
        for text in texts:
            tokens = bag_of_tokens(text)
            ids = [get(t, -2) for t in tokens]
            if -2 in ids:  # tokens not seen before
                for token in tokens:
                    if token not in ids_of:
                        term = self._term(token)
                        ids_of[token] = vocab.setdefault(term, len(vocab)) if term else -1
                ids = [ids_of[t] for t in tokens]
            yield [i for i in ids if i >= 0] if -1 in ids else ids


# SmallFloat (org.apache.lucene.util), the one-byte length norms of BM25Similarity.


def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i  # subnormal value
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07  # keep 4 significant bits; the highest is implicit
    return encoded | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits, shift = i & 0x07, (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24: lengths below it are stored exactly


def int_to_byte4(i: int) -> int:
    """SmallFloat.intToByte4 as an unsigned byte (0..255)."""
    if i < 0:
        raise ValueError(f"length must be non-negative, got {i}")
    if i < _NUM_FREE_VALUES:
        return i
    return _NUM_FREE_VALUES + _long_to_int4(i - _NUM_FREE_VALUES)


def byte4_to_int(b: int) -> int:
    """SmallFloat.byte4ToInt of an unsigned byte."""
    if b < _NUM_FREE_VALUES:
        return b
    return _NUM_FREE_VALUES + _int4_to_long(b - _NUM_FREE_VALUES)


# BM25Similarity.LENGTH_TABLE: the document length each norm byte stands for.
LENGTH_TABLE = tuple(byte4_to_int(b) for b in range(256))


# Lucene's PorterStemmer.java, ported line by line (method names kept).


class _Porter:
    def __init__(self, word: str):
        self.b = list(word)
        self.k = len(word) - 1
        self.j = 0

    def cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in "aeiou":
            return False
        if ch == "y":
            return True if i == 0 else not self.cons(i - 1)
        return True

    def m(self) -> int:
        n, i, j = 0, 0, self.j
        while True:
            if i > j:
                return n
            if not self.cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > j:
                    return n
                if self.cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > j:
                    return n
                if not self.cons(i):
                    break
                i += 1
            i += 1

    def vowelinstem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def doublec(self, j: int) -> bool:
        return j >= 1 and self.b[j] == self.b[j - 1] and self.cons(j)

    def cvc(self, i: int) -> bool:
        if i < 2 or not self.cons(i) or self.cons(i - 1) or not self.cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def ends(self, s: str) -> bool:
        o = self.k - len(s) + 1
        if o < 0 or "".join(self.b[o : self.k + 1]) != s:
            return False
        self.j = self.k - len(s)
        return True

    def setto(self, s: str) -> None:
        o = self.j + 1
        self.b[o : o + len(s)] = s
        self.k = self.j + len(s)

    def r(self, s: str) -> None:
        if self.m() > 0:
            self.setto(s)

    def step1(self) -> None:
        b = self.b
        if b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.setto("i")
            elif b[self.k - 1] != "s":
                self.k -= 1
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowelinstem():
            self.k = self.j
            if self.ends("at"):
                self.setto("ate")
            elif self.ends("bl"):
                self.setto("ble")
            elif self.ends("iz"):
                self.setto("ize")
            elif self.doublec(self.k):
                ch = self.b[self.k]
                self.k -= 1
                if ch in "lsz":
                    self.k += 1
            elif self.m() == 1 and self.cvc(self.k):
                self.setto("e")

    def step2(self) -> None:
        if self.ends("y") and self.vowelinstem():
            self.b[self.k] = "i"

    _STEP3 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    _STEP4 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }
    _STEP5 = {
        "a": ("al",),
        "c": ("ance", "ence"),
        "e": ("er",),
        "i": ("ic",),
        "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"),
        "s": ("ism",),
        "t": ("ate", "iti"),
        "u": ("ous",),
        "v": ("ive",),
        "z": ("ize",),
    }

    def _replace_first(self, rules) -> None:
        for suffix, replacement in rules:
            if self.ends(suffix):
                self.r(replacement)
                return

    def step3(self) -> None:
        if self.k == 0:
            return
        self._replace_first(self._STEP3.get(self.b[self.k - 1], ()))

    def step4(self) -> None:
        self._replace_first(self._STEP4.get(self.b[self.k], ()))

    def step5(self) -> None:
        if self.k == 0:
            return
        ch = self.b[self.k - 1]
        if ch == "o":
            found = (self.ends("ion") and self.j >= 0 and self.b[self.j] in "st") or self.ends("ou")
        else:
            found = any(self.ends(s) for s in self._STEP5.get(ch, ()))
        if found and self.m() > 1:
            self.k = self.j

    def step6(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.doublec(self.k) and self.m() > 1:
            self.k -= 1

    def stem(self) -> str:
        if self.k > 1:
            self.step1()
            self.step2()
            self.step3()
            self.step4()
            self.step5()
            self.step6()
        return "".join(self.b[: self.k + 1])


def porter_stem(word: str) -> str:
    """Lucene's PorterStemmer.stem (words of up to two characters are left as they are)."""
    return _Porter(word).stem() if len(word) > 2 else word
