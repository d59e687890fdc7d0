"""What text the register can store: the one rule, for every way a command is made.

A change set's texts end up in PostgreSQL twice: in the event log and in the read model the
projection writes. PostgreSQL cannot store NUL, a lone surrogate cannot be encoded as UTF-8,
and other control characters are never meant; a text that passed here but could not be
written would stall the projection for good (an event log cannot be edited). So the register
refuses such a text (problem ``text_invalid``) whoever built the command: the HTTP edge, an
import, the CLI or the demo. The edge (`api.fields`) calls the same functions to answer in its
own field vocabulary before the register is reached.

Commands mark their texts by type: `Code` (an identifier), `Required` (a text that must show
something) and any other ``str`` (free text that may be empty). `command_problems` walks the
dataclass fields of a command, nested parts, grids and addresses included, so a new field is
checked without code of its own.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import unicodedata
from enum import Enum
from typing import Annotated, Any, Union

from domain.codes import MAX_CODE

#: The longest free text (a name, a reason, a document, an address), in characters.
MAX_TEXT = 2000

#: Control characters free text may hold (line breaks in a reason).
TEXT_CONTROLS = frozenset("\t\n\r")


class TextRule(Enum):
    """How much a text field must hold, beyond being storable."""

    FREE = "free"  # storable, possibly empty
    REQUIRED = "required"  # storable and shows something
    CODE = "code"  # an identifier: short, no spaces, nothing invisible


#: A code of a unit, an office or a matter.
Code = Annotated[str, TextRule.CODE]
#: A text that must show something (a name, a level, a kind).
Required = Annotated[str, TextRule.REQUIRED]


def unstorable_at(value: str) -> int | None:
    """The index of the first character that cannot be stored (NUL, another control character
    than tab or a line break, a lone surrogate), or None."""
    for index, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs") and char not in TEXT_CONTROLS:
            return index
    return None


def is_blank(value: str) -> bool:
    """Whether `value` shows nothing: only spaces and format characters (zero-width spaces,
    joiners), which read as empty to a person."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in value)


def has_format_character(value: str) -> bool:
    """Whether `value` holds an invisible format character (category Cf)."""
    return any(unicodedata.category(c) == "Cf" for c in value)


def describe(char: str) -> str:
    """A character as U+XXXX (safe to echo back: a lone surrogate cannot be printed)."""
    return f"U+{ord(char):04X}"


def text_problem(value: str, rule: TextRule = TextRule.FREE) -> str | None:
    """Why `value` cannot be stored under `rule`, or None when it can."""
    index = unstorable_at(value)
    if index is not None:
        return (
            f"character {index} is a control character or a lone surrogate "
            f"({describe(value[index])})"
        )
    if len(value) > MAX_TEXT:
        return f"a text has at most {MAX_TEXT} characters (this one {len(value)})"
    if rule is TextRule.FREE:
        return None
    if is_blank(value):
        return "must show something (not only spaces or invisible characters)"
    if rule is TextRule.CODE:
        if has_format_character(value):
            return "a code holds no format (invisible) characters"
        # A reference may name a code stored under an older grammar; the grammar itself
        # (`domain.codes`) is checked where a new code is claimed.
        if len(value) > MAX_CODE or any(c.isspace() for c in value):
            return f"a code has at most {MAX_CODE} characters and no spaces"
    return None


def command_problems(
    command: Any, location: str, *, skip: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(location, message) for every text of `command` that breaks the rule.

    `command` is a dataclass (an operation, a part, grid or address of one, or a change set's
    envelope with its operations in `skip`); the walk follows its fields, tuples of them and
    nested dataclasses. ``location`` itself (where the edge found the operation) is
    bookkeeping, not content, and is skipped.
    """
    out: list[tuple[str, str]] = []
    for name, kind in _text_fields(type(command)):
        if name in skip:
            continue
        _walk(getattr(command, name), kind, f"{location}.{name}" if location else name, out)
    return out


def _walk(value: Any, kind: Any, where: str, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        message = text_problem(value, _rule(kind))
        if message is not None:
            out.append((where, message))
    elif isinstance(value, tuple | list):
        element = _element(kind)
        for index, item in enumerate(value):
            _walk(item, element, f"{where}[{index}]", out)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.extend(command_problems(value, where))


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _text_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """The fields of a command class that may hold text, with their declared types."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        found = tuple(
            (item.name, hints[item.name])
            for item in dataclasses.fields(cls)
            if item.name != "location" and _may_hold_text(hints[item.name])
        )
        _FIELDS[cls] = found
    return found


def _may_hold_text(kind: Any) -> bool:
    """Whether a declared type can hold a str or a dataclass (which may hold one)."""
    if kind is str or (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        return True
    if typing.get_origin(kind) is typing.Literal:
        return True  # a word the edge checks; the summary stores it, so it must be storable
    return any(_may_hold_text(arg) for arg in typing.get_args(kind) if arg is not Ellipsis)


def _rule(kind: Any) -> TextRule:
    """The rule an annotation asks for (plain ``str``: free text)."""
    for arg in _unwrapped(kind):
        for meta in getattr(arg, "__metadata__", ()):
            if isinstance(meta, TextRule):
                return meta
    return TextRule.FREE


def _element(kind: Any) -> Any:
    """The element type of a ``tuple[X, ...]`` (or ``list[X]``), through Optional."""
    for arg in _unwrapped(kind):
        if typing.get_origin(arg) in (tuple, list):
            args = [a for a in typing.get_args(arg) if a is not Ellipsis]
            return args[0] if args else Any
    return Any


def _unwrapped(kind: Any) -> list[Any]:
    """`kind` itself, or the members of an ``X | None`` union."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        return list(typing.get_args(kind))
    return [kind]
