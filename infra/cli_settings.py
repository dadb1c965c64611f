"""Settings for a CLI command: a bad VIGIL_* value stops it with the variable at fault (exit 2)."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console


def load_settings(cls, console: Console):
    """An instance of the settings class `cls` read from the environment, or exit 2 naming each bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            console.print(f"[red]invalid setting VIGIL_{field.upper()}[/]: {err['msg']}")
        raise typer.Exit(2) from None
