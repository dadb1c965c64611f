"""The routing tree: Alertmanager's matching (nested, continue, legacy match), inheritance and grouping."""

from __future__ import annotations

import pytest

from kernel.alerting.config import AlertingConfigError, parse_alerting_config
from kernel.alerting.routing import Route, duration_ms, group_labels, match_routes
from kernel.yaml_config import Yaml12Loader, parse

RECEIVERS = "receivers: [{name: root}, {name: a}, {name: b}, {name: c}, {name: d}]\n"


def config(text: str):
    document = parse(RECEIVERS + text, "test", loader=Yaml12Loader).data
    return parse_alerting_config(document, "test")


def tree(text: str) -> Route:
    return config(text).route


def receivers(root: Route, **labels: str) -> list[str]:
    return [r.receiver for r in match_routes(root, labels)]


NESTED = """
route:
  receiver: root
  routes:
    - matchers: ['team="db"']
      receiver: a
      routes:
        - matchers: ['severity="critical"']
          receiver: b
        - matchers: ['severity=~"critical|warning"']
          receiver: c
    - matchers: ['team=~"db|web"']
      receiver: d
"""


def test_the_deepest_matching_route_wins_and_the_first_matching_sibling_stops_the_search():
    root = tree(NESTED)
    assert receivers(root, team="db", severity="critical") == ["b"]  # not c: b has no continue
    assert receivers(root, team="db", severity="warning") == ["c"]
    assert receivers(root, team="db", severity="info") == ["a"]  # no child matches: the parent is the match
    assert receivers(root, team="db") == ["a"]
    assert receivers(root, team="web") == ["d"]  # team="db" failed, the next sibling is tried
    assert receivers(root, team="ops") == ["root"]  # nothing matches: the root always does
    assert receivers(root) == ["root"]


def test_continue_goes_on_to_the_next_siblings():
    root = tree("""
route:
  receiver: root
  routes:
    - {matchers: ['severity="critical"'], receiver: a, continue: true}
    - {matchers: ['team="db"'], receiver: b}
    - {matchers: ['team=~".+"'], receiver: c}
    - {matchers: ['severity="critical"'], receiver: d, continue: true}
""")
    assert receivers(root, severity="critical", team="db") == ["a", "b"]  # b has no continue: c, d not tried
    assert receivers(root, severity="critical", team="web") == ["a", "c"]
    assert receivers(root, severity="critical") == ["a", "d"]  # d is tried because nothing stopped before it
    assert receivers(root, team="db") == ["b"]


def test_continue_on_a_parent_whose_child_matched():
    root = tree("""
route:
  receiver: root
  routes:
    - matchers: ['team="db"']
      receiver: a
      continue: true
      routes: [{matchers: ['severity="critical"'], receiver: b}]
    - {matchers: ['severity="critical"'], receiver: c}
""")
    assert receivers(root, team="db", severity="critical") == ["b", "c"]
    assert receivers(root, team="db") == ["a"]  # c does not match; a matched with no matching child


def test_paths_and_depth_first_order():
    cfg = config(NESTED)
    assert [r.path for r in cfg.routes()] == ["0", "0.0", "0.0.0", "0.0.1", "0.1"]
    assert [r.receiver for r in cfg.routes()] == ["root", "a", "b", "c", "d"]


def test_children_inherit_receiver_grouping_timings_and_policy_but_not_matchers_continue_or_intervals():
    cfg = config("""
escalation_policies: [{name: slow, escalate_after: 1h}]
time_intervals: [{name: night, time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]}]
route:
  receiver: root
  group_by: [cluster, alertname, cluster]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h30m
  escalation_policy: slow
  routes:
    - matchers: ['team="db"']
      continue: true
      mute_time_intervals: [night]
      active_time_intervals: [night]
      routes:
        - matchers: ['severity="critical"']
          receiver: b
          group_wait: 0s
        - matchers: ['severity="info"']
          group_by: []
""")
    root, parent = cfg.route, cfg.route.routes[0]
    child, ungrouped = parent.routes
    assert root.group_by == ("alertname", "cluster")  # sorted, deduplicated
    assert (parent.receiver, parent.group_by, parent.group_wait_ms, parent.group_interval_ms,
            parent.repeat_interval_ms, parent.escalation_policy) == ("root", ("alertname", "cluster"), 10_000,
                                                                      60_000, 5_400_000, "slow")
    assert (child.receiver, child.group_wait_ms, child.repeat_interval_ms) == ("b", 0, 5_400_000)
    assert [str(m) for m in child.matchers] == ['severity="critical"']  # not the parent's team="db"
    assert parent.continue_ and not child.continue_
    assert child.mute_time_intervals == () and child.active_time_intervals == ()
    assert ungrouped.group_by == () and not ungrouped.group_by_all  # an explicit [] is one group


def test_root_defaults_are_alertmanagers():
    root = tree("route: {receiver: root}")
    assert (root.path, root.group_by, root.group_by_all) == ("0", (), False)
    assert (root.group_wait_ms, root.group_interval_ms, root.repeat_interval_ms) == (30_000, 300_000, 14_400_000)
    assert root.escalation_policy == "default" and root.matchers == () and root.routes == ()


def test_legacy_match_and_match_re_are_anchored_and_combine_with_matchers():
    root = tree("""
route:
  receiver: root
  routes:
    - match: {service: web}
      match_re: {instance: "web-[0-9]+"}
      matchers: [env = prod]
      receiver: a
    - match_re: {service: "db"}
      receiver: b
""")
    assert receivers(root, service="web", instance="web-12", env="prod") == ["a"]
    assert receivers(root, service="web", instance="web-12x", env="prod") == ["root"]  # the regex is anchored
    assert receivers(root, service="web", instance="web-1", env="dev") == ["root"]
    assert receivers(root, service="db-2") == ["root"]  # match_re "db" is ^(?:db)$
    assert receivers(root, service="db") == ["b"]


def test_negative_matchers_and_missing_labels_follow_prometheus():
    root = tree("""
route:
  receiver: root
  routes:
    - {matchers: ['env!="prod"', 'host!~"test-.*"'], receiver: a}
    - {matchers: ['region=""'], receiver: b}
""")
    assert receivers(root, env="dev", host="web-1") == ["a"]
    assert receivers(root, host="web-1") == ["a"]  # a missing label is "", which is not "prod"
    assert receivers(root, env="dev", host="test-1", region="eu") == ["root"]
    assert receivers(root, env="prod") == ["b"]  # region="" selects alerts without the label


def test_group_by_all_and_group_labels():
    cfg = config("""
route:
  receiver: root
  group_by: [alertname, cluster]
  routes:
    - {matchers: ['team="db"'], receiver: a, group_by: ['...']}
""")
    labels = {"alertname": "DiskFull", "team": "db", "host": "db-1"}
    root, everything = cfg.route, cfg.route.routes[0]
    assert everything.group_by_all and everything.group_by == ()
    assert group_labels(everything, labels) == labels
    assert group_labels(root, labels) == {"alertname": "DiskFull"}  # cluster is missing: left out
    assert match_routes(root, labels) == [everything]


def test_group_by_all_must_stand_alone():
    with pytest.raises(AlertingConfigError, match=r"route.group_by: '...' .* must be the only entry"):
        tree("route: {receiver: root, group_by: ['...', alertname]}")


def test_alertmanager_durations():
    assert duration_ms("30s") == 30_000 and duration_ms("1h30m") == 5_400_000 and duration_ms("0s") == 0
    assert duration_ms("250ms") == 250 and duration_ms("1w") == 7 * 86_400_000 and duration_ms("1d12h") == 129_600_000
    for bad in ("30", 30, "-5s", "5 minutes", "", "1m1h", "s"):
        with pytest.raises(ValueError):
            duration_ms(bad)
