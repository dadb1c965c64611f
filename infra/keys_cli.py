"""`vigil keys …`: create, list and revoke API keys and agent ingest tokens (stored hashed in Postgres)."""

from __future__ import annotations

import asyncio
import getpass

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

keys_app = typer.Typer(help="API keys (roles viewer, operator, admin) and agent ingest tokens (role ingest).",
                       no_args_is_help=True)
console = Console()
report = Console(stderr=True)


def _labels(pairs: list[str]) -> dict[str, str]:
    from kernel.names import LABEL_NAME_SYNTAX, is_label_name

    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not is_label_name(name):
            report.print(f"[red]--label {escape(pair)!r}[/]: expected name=value with a label name "
                         f"{escape(LABEL_NAME_SYNTAX)}")
            raise typer.Exit(2)
        labels[name] = value
    return labels


def _run(work):
    """Migrate, then run `work(store)` on one connection; a store or connection error exits 1 with its message."""
    import psycopg

    from kernel.keys import KeyChangeError, KeyStore
    from infra.cli_settings import load_settings
    from kernel.migrate import migrate
    from kernel.settings import CommonSettings

    dsn = load_settings(CommonSettings, console).postgres_dsn.get_secret_value()

    async def main():
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await work(KeyStore(conn))

    try:
        migrate(dsn)
        return asyncio.run(main())
    except KeyChangeError as exc:
        report.print(f"[red]refused:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        report.print(f"[red]Postgres did not answer[/] (is the stack up? `vigil stack up`): {escape(str(exc))}")
        raise typer.Exit(1) from None


@keys_app.command("create")
def create(role: str = typer.Option(..., help="viewer, operator, admin, or ingest (an agent's token)"),
           name: str = typer.Option(..., help="who or what holds the key; unique among live keys"),
           label: list[str] = typer.Option([], help="ingest tokens: name=value added to every sample; repeatable"),
           rate: float | None = typer.Option(None, min=0.001, help="requests per second (default: VIGIL_API_RATE_PER_S)"),
           burst: int | None = typer.Option(None, min=1, help="requests back to back (default: VIGIL_API_RATE_BURST)"),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the key")) -> None:
    """Create a key and print it once: only its SHA-256 is stored, it can't be shown again."""
    from kernel.keys import Role

    try:
        chosen = Role(role.lower())
    except ValueError:
        report.print(f"[red]--role {escape(role)!r}[/]: expected one of {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    if not name.strip() or len(name) > 200:
        report.print("[red]--name[/]: 1 to 200 characters")
        raise typer.Exit(2)
    labels = _labels(label)
    if labels and chosen is not Role.INGEST:
        report.print("[red]--label[/] applies to ingest tokens only (--role ingest)")
        raise typer.Exit(2)
    key, secret = _run(lambda store: store.create(name, chosen, f"cli:{getpass.getuser()}", labels, rate, burst))
    if quiet:
        print(secret)
        return
    console.print(f"created {key.role.value} key [bold]{escape(key.name)}[/] (id {key.id}); it is shown only now:")
    print(secret)


@keys_app.command("list")
def list_keys(all_: bool = typer.Option(False, "--all", help="include revoked keys")) -> None:
    """The keys (never their secrets)."""
    keys = _run(lambda store: store.list(include_revoked=all_))
    table = Table("id", "name", "role", "labels", "rate", "created", "by", "revoked")
    for key in keys:
        table.add_row(key.id, escape(key.name), key.role.value,
                      escape(",".join(f"{k}={v}" for k, v in key.labels.items())),
                      f"{key.rate_per_s}/s" if key.rate_per_s else "default",
                      f"{key.created_at:%Y-%m-%d %H:%M}", escape(key.created_by),
                      f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="the key's id (see `vigil keys list`)")) -> None:
    """Revoke a key: the API refuses it within seconds, ingest within its token refresh."""
    _, after = _run(lambda store: store.revoke(key_id))
    console.print(f"revoked key [bold]{escape(after.name)}[/] (id {after.id})")
