"""Which function applies which command: each handler registers itself with `@handles`.

So adding an operation is a command class in `domain.commands` and one decorated function
here in `domain.operations`; there is no table to keep in step by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from domain.commands import Command
from domain.text import command_problems
from domain.workspace import Workspace

C = TypeVar("C", bound=Command)
Handler = Callable[[Workspace, C], None]

_HANDLERS: dict[type[Command], Callable[[Workspace, Any], None]] = {}


def handles(command: type[C]) -> Callable[[Handler[C]], Handler[C]]:
    """Register the decorated function as what `command` does."""

    def register(handler: Handler[C]) -> Handler[C]:
        if command in _HANDLERS:
            msg = f"{command.__name__} already has a handler"
            raise TypeError(msg)
        _HANDLERS[command] = handler
        return handler

    return register


def handled() -> frozenset[type[Command]]:
    """The command classes that have a handler."""
    return frozenset(_HANDLERS)


def apply_operation(ws: Workspace, operation: Command, location: str = "") -> None:
    """Apply one operation to the workspace, recording its problems there.

    Its texts are checked first, whoever built it (`domain.text`): an operation with a text
    the register cannot store is not applied at all, only reported (``text_invalid`` at the
    field; `location` places an operation that does not say where it came from).
    """
    try:
        handler = _HANDLERS[type(operation)]
    except KeyError:
        msg = f"no handler for {type(operation).__name__}"
        raise TypeError(msg) from None
    if location and not getattr(operation, "location", location):
        # Built without one (an import, the CLI): its problems are placed by its index.
        unplaced: Any = operation
        operation = dataclasses.replace(unplaced, location=location)
    unstorable = command_problems(operation, str(getattr(operation, "location", location)))
    for where, message in unstorable:
        ws.fail("text_invalid", message, where)
    if not unstorable:
        handler(ws, operation)
