"""`vigil routes …`: check an alerting config, test where labels are routed, import an Alertmanager config."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape


routes_app = typer.Typer(help="Alert routing: check an alerting config, test which routes labels take, import an "
                              "Alertmanager config.", no_args_is_help=True)
console = Console()
report = Console(stderr=True)  # `import` without --output writes the file to stdout: its report goes here

def _load(file: Path):
    """The validated config of FILE (env from os.environ); a bad file prints every problem and exits 1."""
    from kernel.alerting.config import AlertingConfigError, load_alerting_config

    try:
        return load_alerting_config(file)
    except AlertingConfigError as exc:
        console.print("[red]invalid alerting config[/]", soft_wrap=True)
        for problem in exc.problems:
            console.print(f"  {escape(problem)}", soft_wrap=True)
        raise typer.Exit(1) from None


def _target(config, name: str) -> str:
    return f"{escape(name)} (schedule)" if name in config.schedules else escape(name)


def _describe(config, route) -> str:
    """One line of the tree: path, matchers, receiver, grouping, timings, policy, muting."""
    from kernel.alerting.routing import format_duration

    matchers = "{" + ", ".join(str(m) for m in route.matchers) + "}" if route.matchers else "(every alert)"
    group = "all labels" if route.group_by_all else (", ".join(route.group_by) or "nothing (one group)")
    text = (f"[bold]{route.path}[/]  {escape(matchers)}  → [cyan]{_target(config, route.receiver)}[/]  "
            f"group by {escape(group)}  wait {format_duration(route.group_wait_ms)} · interval "
            f"{format_duration(route.group_interval_ms)} · repeat {format_duration(route.repeat_interval_ms)}  "
            f"policy {escape(route.escalation_policy)}")
    if route.continue_:
        text += "  [yellow]continue[/]"
    if route.mute_time_intervals:
        text += f"  muted during {escape(', '.join(route.mute_time_intervals))}"
    if route.active_time_intervals:
        text += f"  active only during {escape(', '.join(route.active_time_intervals))}"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else ("es" if word.endswith("s") else "s"))


@routes_app.command("check")
def check(file: Path = typer.Argument(..., help="an alerting config (VIGIL_ALERTING_CONFIG)")) -> None:
    """Validate FILE (with ${VARS} from the environment) and print its route tree; exit 1 on a bad file."""
    from rich.tree import Tree

    config = _load(file)

    def add(branch, route):
        node = branch.add(_describe(config, route))
        for child in route.routes:
            add(node, child)

    tree = Tree(f"[bold]{escape(str(file))}[/]")
    add(tree, config.route)
    console.print(tree, soft_wrap=True)
    for receiver in config.receivers:
        if not receiver.integrations():
            console.print(f"[yellow]warning[/] receiver {escape(receiver.name)} has no integration: notifications "
                          "routed to it are not delivered", soft_wrap=True)
    console.print(", ".join([_plural(len(config.routes()), "route"), _plural(len(config.receivers), "receiver"),
                             _plural(len(config.inhibit_rules), "inhibit rule"),
                             _plural(len(config.time_intervals), "time interval"),
                             f"{len(config.escalation_policies)} escalation polic"
                             + ("y" if len(config.escalation_policies) == 1 else "ies"),
                             _plural(len(config.schedules), "schedule")]), soft_wrap=True)
    console.print("[green]valid[/]")


@routes_app.command("test")
def route_test(
    file: Path = typer.Argument(..., help="an alerting config (VIGIL_ALERTING_CONFIG)"),
    labels: list[str] = typer.Argument(None, help="the alert's labels as name=value …"),
    at: str = typer.Option(None, "--at", help="when, for muting and on-call (ISO 8601 with offset; default now)"),
) -> None:
    """Which routes and receivers an alert with these labels goes to (like `amtool config routes test`)."""
    from kernel.alerting.oncall import instant_ms
    from kernel.alerting.route_trace import receivers_reached, trace

    alert: dict[str, str] = {}
    for arg in labels or []:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            console.print(f"[red]bad label[/] {escape(arg)!r}: expected name=value, e.g. severity=critical")
            raise typer.Exit(2)
        alert[name.strip()] = value.strip().strip("\"'")
    try:
        at_ms = instant_ms(at) if at else int(time.time() * 1000)
    except ValueError as exc:
        console.print(f"[red]--at[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    hits = trace(_load(file), alert, at_ms)
    for hit in hits:
        line = f"[bold]{hit.route.path}[/]  → [cyan]{escape(hit.receiver)}[/]"
        if hit.schedule:
            line += (f" (schedule: {escape(hit.on_call)} on call)" if hit.on_call
                     else " [red](schedule: nobody on call)[/]")
        line += "  group {" + escape(", ".join(f'{k}="{v}"' for k, v in sorted(hit.group.items()))) + "}"
        if hit.muted:
            line += "  [yellow]muted at this time[/]"
        console.print(line, soft_wrap=True)
    console.print("receivers: " + escape(", ".join(receivers_reached(hits))), soft_wrap=True)


@routes_app.command("import")
def import_alertmanager(
    file: Path = typer.Argument(..., help="an Alertmanager config (alertmanager.yml)"),
    output: Path = typer.Option(None, "--output", "-o", help="write Vigil's alerting config here (default: stdout)"),
) -> None:
    """Translate an Alertmanager config into Vigil's alerting config; report every item left out and why."""
    import yaml

    from kernel.alerting.config import AlertingConfigError, parse_alerting_config
    from kernel.yaml_config import ConfigFileError, Yaml12Loader, read

    try:
        document = read(file, what="the Alertmanager config", loader=Yaml12Loader).data
    except ConfigFileError as exc:  # FILE: cannot read …, FILE:LINE: not valid YAML: …
        report.print(f"[red]cannot import[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    if not isinstance(document, dict):
        report.print(f"[red]{escape(str(file))}[/]: expected an Alertmanager config (a mapping with route:)")
        raise typer.Exit(1)
    from streams.incidents.alertmanager_import import AlertmanagerImport

    translation = AlertmanagerImport()
    converted = translation.translate(document)
    for path, reason in translation.dropped:
        report.print(f"[yellow]dropped[/]  {escape(path)}: {escape(reason)}", soft_wrap=True)
    for path, reason in translation.warnings:
        report.print(f"[yellow]warning[/]  {escape(path)}: {escape(reason)}", soft_wrap=True)
    try:
        config = parse_alerting_config(converted, f"{file} (converted)")
    except AlertingConfigError as exc:
        report.print("[red]the converted config is not valid[/] (nothing was written):", soft_wrap=True)
        for problem in exc.problems:
            report.print(f"  {escape(problem)}", soft_wrap=True)
        raise typer.Exit(1) from None
    text = (f"# Converted from {file.name} by `vigil routes import`; check it with `vigil routes check`.\n"
            + yaml.safe_dump(converted, sort_keys=False, allow_unicode=True, width=120))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
    if translation.literal_secrets:
        report.print(f"[yellow]note[/]     {translation.literal_secrets} secret(s) (routing keys, webhook URLs) are "
                     "written literally, as in the source: consider ${NAME} references to environment variables",
                     soft_wrap=True)
    report.print(f"imported {_plural(len(config.routes()), 'route')}, {_plural(len(config.receivers), 'receiver')}, "
                 f"{_plural(len(config.inhibit_rules), 'inhibit rule')}, "
                 f"{_plural(len(config.time_intervals), 'time interval')}; "
                 f"{len(translation.dropped)} item(s) dropped" + (f" → {escape(str(output))}" if output else ""),
                 soft_wrap=True)
