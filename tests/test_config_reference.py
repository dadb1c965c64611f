"""docs/configuration.md's table of settings is the one generated from kernel/settings.py, and every setting says
what it does."""

from __future__ import annotations

from infra import config_reference

REGENERATE = ".venv/bin/python -m infra.config_reference --write"


def test_the_committed_reference_is_what_the_settings_generate():
    committed = config_reference.section(config_reference.DOCUMENT.read_text())
    assert committed == config_reference.render(), (
        f"docs/configuration.md's table of settings is not what kernel/settings.py generates: run `{REGENERATE}` "
        "and commit the result")


def test_every_setting_has_a_description():
    missing = config_reference.missing_descriptions()
    assert not missing, (f"settings without Field(description=...) in kernel/settings.py: {', '.join(missing)}; "
                         f"describe them, then run `{REGENERATE}`")


def test_every_variable_has_one_row_naming_who_reads_it():
    rows = config_reference.rows()
    variables = [variable for variable, _, _, _ in rows]
    assert len(variables) == len(set(variables))
    assert all(variable.startswith("`VIGIL_") for variable in variables)
    assert all(read_by and description for _, _, read_by, description in rows)
    read_by = dict((variable, who) for variable, _, who, _ in rows)
    assert read_by["`VIGIL_KAFKA_BOOTSTRAP`"] == config_reference.EVERY_PROCESS
    assert read_by["`VIGIL_EXTERNAL_URL`"] == "streams, notifier"
    assert read_by["`VIGIL_CONNECTORS_CONFIG`"] == "connectors"


def test_defaults_read_as_they_are_written_in_the_environment():
    render = config_reference.render_default
    assert render(None) == "—"
    assert render(True) == "`true`"
    assert render(10.0) == "`10`" and render(0.5) == "`0.5`"
    assert render(("device", "host")) == '`["device","host"]`'
    assert render((50.0, 90.0)) == "`[50,90]`"
    assert render({}) == "`{}`"
    assert render("") == '`""`'
