"""On-call schedules: rotation boundaries, overrides, layer precedence, nobody on call yet."""

from __future__ import annotations

from datetime import datetime

import pytest

from kernel.alerting.config import AlertingConfigError, parse_alerting_config
from kernel.alerting.oncall import Schedule, on_call
from kernel.yaml_config import Yaml12Loader, parse

DAY = 86_400_000
WEEK = 7 * DAY


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


START = ms("2026-11-02T09:00:00+01:00")  # 08:00 UTC


def schedule(**fields) -> Schedule:
    return Schedule.model_validate({"name": "primary", **fields})


WEEKLY = {"start": "2026-11-02T09:00:00+01:00", "rotation": "7d", "members": ["alice", "bob", "carol"]}


def test_rotation_hands_over_exactly_at_each_boundary():
    s = schedule(layers=[WEEKLY])
    assert on_call(s, START) == "alice"
    assert on_call(s, START + WEEK - 1) == "alice"
    assert on_call(s, START + WEEK) == "bob"
    assert on_call(s, ms("2026-11-16T08:00:00Z")) == "carol"  # 09:00 in the start's own offset
    assert on_call(s, ms("2026-11-16T07:59:59.999Z")) == "bob"
    assert on_call(s, START + 3 * WEEK) == "alice"  # wraps around
    assert on_call(s, START + 301 * WEEK) == "bob"


def test_nobody_is_on_call_before_the_first_layer_starts():
    s = schedule(layers=[WEEKLY])
    assert on_call(s, START - 1) is None
    assert on_call(schedule(), START) is None  # a schedule without layers or overrides


def test_a_later_layer_takes_precedence_while_it_has_someone_on_call():
    nights = {"start": "2026-11-09T08:00:00Z", "end": "2026-11-16T08:00:00Z", "rotation": "12h",
              "members": ["dave", "erin"]}
    s = schedule(layers=[WEEKLY, nights])
    assert on_call(s, ms("2026-11-09T07:59:00Z")) == "alice"  # before the top layer starts
    assert on_call(s, ms("2026-11-09T08:00:00Z")) == "dave"
    assert on_call(s, ms("2026-11-09T20:00:00Z")) == "erin"
    assert on_call(s, ms("2026-11-10T08:00:00Z")) == "dave"
    assert on_call(s, ms("2026-11-16T08:00:00Z")) == "carol"  # the top layer ended: the one below shows


def test_overrides_win_over_layers_and_the_last_listed_wins():
    s = schedule(layers=[WEEKLY], overrides=[
        {"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z", "member": "carol"},
        {"start": "2026-11-25T12:00:00Z", "end": "2026-11-25T13:00:00Z", "member": "dave"},
    ])
    assert on_call(s, ms("2026-11-24T23:59:59Z")) == "alice"  # the layer's own turn (its fourth week)
    assert on_call(s, ms("2026-11-25T00:00:00Z")) == "carol"
    assert on_call(s, ms("2026-11-25T12:30:00Z")) == "dave"
    assert on_call(s, ms("2026-11-25T13:00:00Z")) == "carol"  # an override's end is exclusive
    override_only = schedule(overrides=[{"start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z",
                                         "member": "erin"}])
    assert on_call(override_only, ms("2026-11-25T10:00:00Z")) == "erin"
    assert on_call(override_only, ms("2026-11-26T10:00:00Z")) is None


@pytest.mark.parametrize("layer, expected", [
    ({**WEEKLY, "start": "2026-11-02T09:00:00"}, "has no UTC offset"),
    ({**WEEKLY, "start": "next monday"}, "is not a time like 2026-11-02T09:00:00+01:00"),
    ({**WEEKLY, "rotation": "0s"}, "must be longer than 0s"),
    ({**WEEKLY, "rotation": "weekly"}, "is not a duration"),
    ({**WEEKLY, "members": []}, "at least 1 item"),
    ({**WEEKLY, "end": "2026-11-01T00:00:00Z"}, "end must be after start"),
    ({**WEEKLY, "member": "alice"}, "Extra inputs"),
])
def test_invalid_layers(layer, expected):
    with pytest.raises(ValueError) as err:
        schedule(layers=[layer])
    assert expected in str(err.value)


CONFIG = """
route: {receiver: db-oncall}
receivers: [{name: alice}, {name: bob}, {name: team-lead}]
schedules:
  - name: db-oncall
    layers:
      - {start: "2026-11-02T09:00:00+01:00", rotation: 1d, members: [alice, bob]}
"""


def test_the_config_resolves_schedules_to_who_is_on_call_and_receivers_to_themselves():
    document = parse(CONFIG, "test", loader=Yaml12Loader).data
    config = parse_alerting_config(document, "test")
    assert config.resolve_target("db-oncall", START) == "alice"
    assert config.resolve_target("db-oncall", START + DAY) == "bob"
    assert config.resolve_target("db-oncall", START - 1) is None
    assert config.resolve_target("team-lead", START) == "team-lead"


@pytest.mark.parametrize("extra, expected", [
    ("  - {name: team, layers: [{start: '2026-11-02T09:00:00Z', rotation: 7d, members: [alice, carol]}]}",
     "test: schedules[1].layers[0].members[1]: 'carol' is not a receiver (schedule members are receivers)"),
    ("  - {name: team, overrides: [{start: '2026-11-02T09:00:00Z', end: '2026-11-03T09:00:00Z', member: db-oncall}]}",
     "test: schedules[1].overrides[0].member: 'db-oncall' is not a receiver"),
    ("  - {name: alice, layers: []}", "test: schedules[1].name: 'alice' is also a receiver's name"),
    ("  - {name: db-oncall}", "test: schedules[1].name: another schedule is already named 'db-oncall'"),
])
def test_schedule_errors_name_the_path(extra, expected):
    document = parse(CONFIG + extra, "test", loader=Yaml12Loader).data
    with pytest.raises(AlertingConfigError) as err:
        parse_alerting_config(document, "test")
    assert expected in str(err.value)
