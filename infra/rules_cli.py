"""`vigil rules …`: manage alert rules as data (apply a rules file, import Prometheus rules, backtest)."""

from __future__ import annotations

import typer
from rich.console import Console

rules_app = typer.Typer(help="Alert rules: apply a rules file, import Prometheus rule files, list, backtest.",
                        no_args_is_help=True)
console = Console()

# --- apply / list / import (store) ---

# --- backtest ---
