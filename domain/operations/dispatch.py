"""Which function applies which command: each handler registers itself with `@handles`.

So adding an operation is a command class in `domain.commands` and one decorated function
here in `domain.operations`; there is no table to keep in step by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from domain.commands import Command
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


def apply_operation(ws: Workspace, operation: Command) -> None:
    """Apply one operation to the workspace, recording its problems there."""
    try:
        handler = _HANDLERS[type(operation)]
    except KeyError:
        msg = f"no handler for {type(operation).__name__}"
        raise TypeError(msg) from None
    handler(ws, operation)
