"""The command layer: every write use case, written once, called by the API and the CLI alike.

A command takes the `Services` of its process and a request already parsed at the edge (the
API route reads JSON or a form, the CLI its arguments), applies it through the register, waits
until the read model shows it (`Services.wait_visible`, NOTIFY-driven), records the write for
read-your-writes, and says what happened in a `WriteOutcome`. Turning an outcome into an HTTP
status is the API's business (`api.shared.write_status`), not the command's.
"""

from jurisdictions.commands.changesets import submit_change_set
from jurisdictions.commands.imports import ImportOutcome, import_layer, import_layers
from jurisdictions.commands.tokens import create_token, list_tokens, revoke_token
from jurisdictions.commands.writes import WriteOutcome

__all__ = [
    "ImportOutcome",
    "WriteOutcome",
    "create_token",
    "import_layer",
    "import_layers",
    "list_tokens",
    "revoke_token",
    "submit_change_set",
]
