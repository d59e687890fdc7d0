"""The grammar of codes: what may name a unit, an office or a matter.

A code appears in URLs (``/v1/units/{code}``, ``/maps/units/{code}``, OGC item ids where ``@``
starts a version date), so every code the register stores must be addressable in every one of
them: no ``/``, ``%``, ``?``, ``#``, ``@``, whitespace or control characters, and no code made
of dots alone (clients resolve ``.`` and ``..`` as path segments). The grammar is a setting
(``JL_CODE_PATTERN``); the default is letters and digits of any script plus ``-``, ``_`` and
``.``, starting with a letter, a digit or ``_``.
"""

from __future__ import annotations

import re

#: Codes are identifiers: short.
MAX_CODE = 64
#: Letters and digits of any script (``\\w``), ``-``, ``_`` and ``.``; not starting with ``.``
#: or ``-``; at most `MAX_CODE` characters.
DEFAULT_CODE_PATTERN = r"\w[\w.-]{0,63}"
#: What the default grammar means, for error messages.
DEFAULT_CODE_RULE = (
    "a code is 1 to 64 letters or digits (any script), '-', '_' or '.', "
    "starting with a letter, a digit or '_'"
)

#: Codes no grammar may admit: each would be unreachable or ambiguous in some URL.
_UNADDRESSABLE = (
    ".",
    "..",
    "a/b",
    "a%2Fb",
    "a%b",
    "a?b",
    "a#b",
    "a@b",
    "a b",
    "a\tb",
    "a\nb",
    "a\x00b",
    "a\x7fb",
    "a\u200bb",
    "a\\b",
)


def code_is_valid(code: str, pattern: str = DEFAULT_CODE_PATTERN) -> bool:
    """Whether `code` is a code under the grammar `pattern` (at most `MAX_CODE` characters)."""
    return 0 < len(code) <= MAX_CODE and re.fullmatch(pattern, code) is not None


def code_rule(pattern: str) -> str:
    """The grammar in words, for the message of a refused code."""
    if pattern == DEFAULT_CODE_PATTERN:
        return DEFAULT_CODE_RULE
    return f"a code has at most {MAX_CODE} characters and matches {pattern}"


def check_code_pattern(pattern: str) -> None:
    """Refuse a configured grammar that does not compile or admits an unaddressable code."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        msg = f"the code pattern {pattern!r} is not a regular expression: {exc}"
        raise ValueError(msg) from exc
    admitted = [probe for probe in _UNADDRESSABLE if compiled.fullmatch(probe)]
    if admitted:
        msg = (
            f"the code pattern {pattern!r} admits {admitted[0]!r}: codes must not hold "
            "'/', '%', '?', '#', '@', '\\', whitespace, control or invisible characters, "
            "nor be dots alone"
        )
        raise ValueError(msg)
