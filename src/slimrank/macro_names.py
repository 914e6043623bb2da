"""LaTeX macro names built from role words (digits become words: macro names are letters
only), and an ordered macro set that refuses a name twice. Used by :mod:`slimrank.macros`."""

from __future__ import annotations

import re

_ONES = (
    "Zero One Two Three Four Five Six Seven Eight Nine Ten Eleven Twelve Thirteen Fourteen "
    "Fifteen Sixteen Seventeen Eighteen Nineteen"
).split()
_TENS = "_ _ Twenty Thirty Forty Fifty Sixty Seventy Eighty Ninety".split()


def number_words(number: str | int) -> str:
    """``"90"`` -> ``"Ninety"``, ``"1000"`` -> ``"OneThousand"``, ``"87.5"`` ->
    ``"EightySevenPointFive"``: digits in macro names must be letters."""
    text = str(number)
    whole, _, frac = text.partition(".")
    n = int(whole)
    if not 0 <= n < 10**9:
        raise ValueError(f"no words for {number!r}")

    def words(k: int) -> str:
        if k < 20:
            return _ONES[k]
        if k < 100:
            return _TENS[k // 10] + (_ONES[k % 10] if k % 10 else "")
        for size, name in ((10**6, "Million"), (1000, "Thousand"), (100, "Hundred")):
            if k >= size:
                rest = k % size
                return words(k // size) + name + (words(rest) if rest else "")
        raise AssertionError(k)

    out = words(n)
    if frac:
        out += "Point" + "".join(_ONES[int(d)] for d in frac)
    return out


def macro_name(*parts: str | int) -> str:
    """Deterministic LaTeX macro name (letters only) from role words.

    Each part is cut into letter runs and number runs; numbers become words, every piece is
    capitalised and the first letter is lower case:
    ``macro_name("main", "drop", 1, "primary") == "mainDropOnePrimary"``.
    """
    pieces = []
    for part in parts:
        for token in re.findall(r"\d+(?:\.\d+)?|[A-Za-z]+", str(part)):
            pieces.append(
                number_words(token) if token[0].isdigit() else token[0].upper() + token[1:]
            )
    if not pieces:
        raise ValueError(f"no letters or digits in {parts!r}")
    name = "".join(pieces)
    return name[0].lower() + name[1:]


def role_name(*parts: str | int) -> str:
    """A role as it appears inside macro names: ``role_name("drop", 1) == "DropOne"``."""
    name = macro_name(*parts)
    return name[0].upper() + name[1:]


def metric_role(k: int) -> str:
    """Role word of the k-th (1-based) text metric: Primary, Secondary, MetricThree, ..."""
    return {1: "Primary", 2: "Secondary"}.get(k) or "Metric" + number_words(k)


class MacroSet:
    """Ordered macro set that refuses a name twice (two sources must never share a name)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: set[str] = set()

    def comment(self, text: str) -> None:
        self.lines.append(f"% {text}")

    def add(self, name: str, value: str) -> None:
        if not re.fullmatch(r"[A-Za-z]+", name):
            raise ValueError(f"macro name {name!r} is not letters only")
        if name in self.names:
            raise ValueError(f"macro {name!r} generated twice")
        self.names.add(name)
        self.lines.append(f"\\newcommand{{\\{name}}}{{{value}}}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def parse_macros(text: str) -> dict[str, str]:
    """``\\newcommand{\\name}{value}`` lines back into a dict (for tests and checks)."""
    return dict(re.findall(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}$", text, flags=re.MULTILINE))
