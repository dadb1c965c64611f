"""Regenerate golden.json: Prometheus' own rendering of each template case, read from promtool.

Run from the repository root with Prometheus' promtool on PATH (Debian's is 2.42, built with Go
1.19, which is what the engine follows):

    .venv/bin/python tests/kernel/gotemplate/testdata/generate_golden.py

Each case becomes an annotation of an alert whose value is the case's $value; promtool's unit test
runner is given no expected alerts, so it prints what Prometheus rendered ("got:"), which is read
back. Bad templates are run through `promtool check rules`, which prints Go's parse error.
promtool's template expander has no external URL (its `externalURL`/`pathPrefix` fail), while the
alert data's ExternalURL is the test's `external_url`; golden.json records both so the test can
reproduce that setting.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).parent
EXTERNAL_URL = "http://prom.example.com:9090/prefix"
EXTERNAL_LABELS = {"region": "eu-west", "replica": "a"}
SERIES_LABELS = {"job": "node", "instance": "db-1.example.com:9100", "severity": "critical",
                 "path": "/var/lib/postgres", "code": "503"}
# Series the `query` cases see; QUERY_RESULTS is what Prometheus returns for each query expression.
INPUT_SERIES = {
    'up{job="api",instance="a:1"}': 1.0,
    'up{job="db",instance="c:3"}': 0.0,
    'up{job="api",instance="b:2"}': 1.0,
    'disk_free{mount="/",host="x"}': 1073741824.0,
}
QUERY_RESULTS = {
    "up": [({"__name__": "up", "instance": "a:1", "job": "api"}, 1.0),  # promtool's storage order
           ({"__name__": "up", "instance": "c:3", "job": "db"}, 0.0),
           ({"__name__": "up", "instance": "b:2", "job": "api"}, 1.0)],
    'up{job="db"}': [({"__name__": "up", "instance": "c:3", "job": "db"}, 0.0)],
    "sum(up)": [({}, 2.0)],
    "up == 5": [],
    'disk_free{mount="/"}': [({"__name__": "disk_free", "host": "x", "mount": "/"}, 1073741824.0)],
}

VALUES = {  # $value cases: name → PromQL giving that value on the series m (labels kept, name dropped)
    "v1": "m * 0 + 1", "v0": "m * 0", "vneg0": "-(m * 0)", "v1_5": "m * 0 + 1.5", "v1e6": "m * 0 + 1e6",
    "v1e21": "m * 0 + 1e21", "v1e-7": "m * 0 + 1e-7", "vnan": "m * 0 + NaN", "vinf": "m * 0 + Inf",
    "vneginf": "m * 0 - Inf", "v123456789": "m * 0 + 123456789", "v2e53": "m * 0 + 9007199254740993",
    "v0_1": "m * 0 + 0.1", "v100000": "m * 0 + 100000", "v1e-4": "m * 0 + 0.0001", "v1e-5": "m * 0 + 0.00001",
    "vneg": "m * 0 - 42.125", "v1e300": "m * 0 + 1e300", "v5e-324": "m * 0 + 5e-324", "vpi": "m * 0 + 3.14159265358979",
    "v1600000000": "m * 0 + 1600000000.123", "v86461": "m * 0 + 90061.5", "v0_0015": "m * 0 + 0.0015",
    "v1024": "m * 0 + 1048576", "v0_1234": "m * 0 + 0.1234", "v999999": "m * 0 + 999999", "v1234567": "m * 0 + 1234567",
    "vmaxint": "m * 0 + 9223372036854775807",
}

VALUE_TEMPLATES = ["{{ $value }}", "{{ .Value }}", "{{ humanize $value }}", "{{ humanize1024 $value }}",
                   "{{ humanizeDuration $value }}", "{{ humanizePercentage $value }}",
                   "{{ humanizeTimestamp $value }}", '{{ printf "%.2f" $value }}', '{{ printf "%g|%e|%f" $value $value $value }}',
                   '{{ printf "%v|%6.1f|%-8.3g|%+.1e" $value $value $value $value }}', "{{ print $value }}",
                   "{{ $value | printf \"%d\" }}", "{{ if gt $value 1.0 }}big{{ else }}small{{ end }}",
                   "{{ printf \"%.0f\" $value }}", "{{ printf \"%x\" $value }}", "{{ printf \"%s\" $value }}"]

CASES = [  # (id, template) rendered with $value = 1 and SERIES_LABELS
    # text, actions, trim markers, comments
    ("text", "plain text"), ("trim", "a  {{- 1 -}}  b"), ("trim_nl", "a\n\n{{- \"x\" }}\n{{- \"y\" -}}\n\nb"),
    ("comment", "a{{/* note */}}b"), ("comment_trim", "a {{- /* note */ -}} b"),
    ("labels_field", "{{ $labels.job }}/{{ .Labels.instance }}"), ("missing_label", "[{{ $labels.nope }}]"),
    ("missing_label_index", "[{{ index $labels \"nope\" }}]"), ("missing_label_upper", "[{{ $labels.nope | toUpper }}]"),
    ("labels_map", "{{ $labels }}"), ("dot", "{{ . }}"), ("ext_labels", "{{ $externalLabels.region }} {{ .ExternalLabels }}"),
    ("ext_url_var", "{{ $externalURL }}"), ("ext_url_func", "{{ externalURL }}"), ("path_prefix", "{{ pathPrefix }}"),
    ("root", "{{ $.Labels.job }}"), ("chained_missing", "{{ $labels.nope.deeper }}"),
    ("bad_field", "{{ .labels }}"), ("field_on_string", "{{ $labels.job.x }}"),
    # variables
    ("var_decl", "{{ $x := \"a\" }}{{ $x }}{{ $x = \"b\" }}{{ $x }}"), ("var_scope", "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"),
    ("var_assign_in_if", "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
    # if/with/range
    ("if_else", "{{ if eq $labels.severity \"critical\" }}page{{ else if eq $labels.severity \"warning\" }}ticket{{ else }}log{{ end }}"),
    ("if_empty", "{{ if $labels.nope }}yes{{ else }}no{{ end }}"), ("with", "{{ with $labels.job }}job={{ . }}{{ end }}"),
    ("with_else", "{{ with $labels.nope }}x{{ else }}none{{ end }}"),
    ("range_map", "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"), ("range_map_dot", "{{ range $labels }}{{ . }},{{ end }}"),
    ("range_break", "{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ break }}{{ end }}{{ $k }};{{ end }}"),
    ("range_continue", "{{ range $k, $v := $labels }}{{ if eq $k \"job\" }}{{ continue }}{{ end }}{{ $k }};{{ end }}"),
    ("range_else", "{{ range query \"up == 5\" }}x{{ else }}empty{{ end }}"),
    ("range_one_var", "{{ range $v := $labels }}{{ $v }};{{ end }}"),
    # define/template/block
    ("define", "{{ define \"T\" }}[{{ . }}]{{ end }}{{ template \"T\" $labels.job }}{{ template \"T\" }}"),
    ("block", "{{ block \"B\" $labels.job }}<{{ . }}>{{ end }}"),
    ("template_undefined", "{{ template \"nope\" }}"),
    # literals
    ("lit_strings", "{{ \"a\\tb\\u00e9\\x41\" }}|{{ `raw\\n` }}"), ("lit_numbers", "{{ 1 }} {{ 1.5 }} {{ 0x1F }} {{ 1e3 }} {{ -7 }} {{ 'a' }} {{ 0o17 }} {{ 1_000 }}"),
    ("lit_bool_nil", "{{ true }} {{ false }} {{ print nil }}"), ("lit_float_int", "{{ 2.0 }} {{ 1e6 }} {{ 100000.0 }}"),
    ("paren", "{{ (printf \"%s-%s\" \"a\" \"b\") | toUpper }}"), ("pipe_chain", "{{ $labels.job | toUpper | printf \"<%s>\" }}"),
    # builtins
    ("and_or", "{{ and 1 0 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 3 }} {{ and $labels.nope 1 }}"),
    ("not", "{{ not 0 }} {{ not \"x\" }}"), ("len", "{{ len $labels }} {{ len \"héllo\" }}"),
    ("index_str", "{{ index \"abc\" 1 }}"), ("slice", "{{ slice \"abcdef\" 1 3 }}"),
    ("print", "{{ print \"a\" 1 2 \"b\" 3.5 true }}"), ("println", "{{ println \"a\" 1 }}"),
    ("printf_verbs", "{{ printf \"%s|%q|%v|%d|%5d|%-5d|%05d|%x|%X|%o|%b|%t|%%|%c\" \"s\" \"q\" 1.5 42 42 42 42 255 255 8 5 true 65 }}"),
    ("printf_bad", "{{ printf \"%d %s\" \"x\" }}|{{ printf \"%d\" 1 2 }}|{{ printf \"%f\" 5 }}|{{ printf \"%!\" }}"),
    ("printf_width", "{{ printf \"[%8.3f][%-8.2e][%+d][% d][%08.3f][%.3s][%10s][%-10s]\" 3.14159 1234.5 5 5 -3.14159 \"abcdef\" \"r\" \"l\" }}"),
    ("printf_q", "{{ printf \"%q %+q %x % x %#x\" \"é\\n\" \"é\" \"hi\" \"hi\" \"hi\" }}"),
    ("printf_T", "{{ printf \"%T %T %T %T %T\" 1 1.5 \"s\" true $labels }}"),
    ("printf_map", "{{ printf \"%v|%s|%d\" $labels $labels 1 }}"),
    ("html_js_url", "{{ html \"<a href='x'>&\\\"\" }}|{{ js \"it's <b>\\\"x\\\"=\\\\\" }}|{{ urlquery \"a b&c=d/é\" }}"),
    ("eq_multi", "{{ eq $labels.job \"a\" \"node\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}"),
    ("eq_mixed", "{{ eq $value 1 }}"), ("lt_mixed", "{{ lt $value 1 }}"), ("eq_nil", "{{ eq nil nil }}"),
    # Prometheus functions
    ("humanize_str", "{{ humanize \"1234\" }} {{ humanize \"abc\" }}"), ("humanize_int", "{{ humanize 1234567 }} {{ humanize1024 2048 }}"),
    ("humanize_bool", "{{ humanize true }}"), ("humanize_small", "{{ humanize 0.000123 }} {{ humanize -0.5 }} {{ humanize 1e30 }}"),
    ("humanize_duration_cases", "{{ humanizeDuration 0 }} {{ humanizeDuration 59.99 }} {{ humanizeDuration 3600 }} {{ humanizeDuration -90061 }} {{ humanizeDuration 0.0015 }} {{ humanizeDuration \"3601\" }}"),
    ("humanize_percentage", "{{ humanizePercentage 0.5 }} {{ humanizePercentage 1 }} {{ humanizePercentage 0.123456 }}"),
    ("humanize_timestamp", "{{ humanizeTimestamp 0 }} {{ humanizeTimestamp 1600000000.5 }} {{ humanizeTimestamp \"1e9\" }} {{ humanizeTimestamp -1.5 }}"),
    ("humanize_timestamp_huge", "{{ humanizeTimestamp 1e20 }}"),
    ("to_time", "{{ toTime 1600000000 }}|{{ (toTime 1600000000).Unix }}|{{ (toTime 1600000000.25).Format \"2006-01-02T15:04:05.000Z07:00 Mon Jan\" }}|{{ (toTime 0).Year }}"),
    ("to_time_methods", "{{ with toTime 1600000000.123 }}{{ .Month }} {{ .Weekday }} {{ .Day }} {{ .Hour }} {{ .UnixMilli }} {{ printf \"%T\" . }} {{ .Format \"Jan _2 03:04:05PM .999 2006 002\" }}{{ end }}"),
    ("to_time_nan", "{{ toTime \"NaN\" }}"),
    ("title_upper_lower", "{{ title \"hello wORLD foo_bar o'neil x-y\" }} {{ toUpper \"abc\" }} {{ toLower \"ÀBC\" }}"),
    ("match", "{{ match \"^db-[0-9]+\" $labels.instance }} {{ match \"x\" \"abc\" }}"), ("match_bad", "{{ match \"(\" \"x\" }}"),
    ("re_replace", "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}|{{ reReplaceAll \"(?P<host>[a-z]+)-(\\\\d)\" \"${2}_${host}\" \"db-1\" }}|{{ reReplaceAll \"a\" \"$1x\" \"banana\" }}|{{ reReplaceAll \"x*\" \"-\" \"abc\" }}|{{ reReplaceAll \"b\" \"$$ $\" \"abc\" }}"),
    ("re_replace_bad", "{{ reReplaceAll \"[\" \"\" \"x\" }}"),
    ("safe_html", "{{ safeHtml \"<b>x</b>\" }}"), ("safe_html_type", "{{ safeHtml \"x\" | toUpper }}"),
    ("strip_port", "{{ stripPort $labels.instance }} {{ stripPort \"[::1]:80\" }} {{ stripPort \"nohost\" }}"),
    ("strip_domain", "{{ stripDomain $labels.instance }} {{ stripDomain \"10.0.0.1:80\" }} {{ stripDomain \"a.b.c\" }} {{ stripDomain \"[2001:db8::1]:80\" }}"),
    ("graph_table_link", "{{ graphLink \"rate(x[5m]) > 0\" }} {{ tableLink \"up{job=\\\"a\\\"}\" }}"),
    ("parse_duration", "{{ parseDuration \"1h30m\" }} {{ parseDuration \"1d\" }} {{ parseDuration \"500ms\" }} {{ parseDuration \"0\" }}"),
    ("parse_duration_bad", "{{ parseDuration \"1x\" }}"),
    ("args", "{{ define \"A\" }}{{ .arg0 }}-{{ .arg1 }}-{{ .arg2 }}{{ end }}{{ template \"A\" args 1 \"two\" }}"),
    ("query_range", "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }};{{ end }}"),
    ("query_first", "{{ with query \"sum(up)\" }}{{ . | first | value | humanize }}{{ end }}"),
    ("query_label", "{{ query \"up{job=\\\"db\\\"}\" | first | label \"instance\" }}"),
    ("query_sort", "{{ range query \"up\" | sortByLabel \"job\" }}{{ .Labels.job }}{{ end }}"),
    ("query_strvalue", "[{{ query \"up{job=\\\"db\\\"}\" | first | strvalue }}]"),
    ("query_first_empty", "{{ query \"up == 5\" | first }}"),
    ("query_print", "{{ query \"sum(up)\" | first }}"),
    ("query_humanize1024", "{{ with query \"disk_free{mount=\\\"/\\\"}\" }}{{ . | first | value | humanize1024 }}B{{ end }}"),
    ("range_slice_index", "{{ range $i, $s := query \"up\" }}{{ $i }}:{{ $s.Labels.job }}/{{ $.Labels.job }} {{ end }}"),
    ("index_slice", "{{ (index (query \"up\") 1).Value }} {{ len (query \"up\") }} {{ index (query \"up\") 7 }}"),
    ("args_missing", "{{ (args 1).arg5 }}|{{ index (args 1) \"arg9\" }}|{{ printf \"%v\" (args 1 \"x\") }}"),
    ("pipe_humanize", "{{ $value | humanize }} {{ .Value | humanizePercentage }}"),
    ("if_and_or", "{{ if and (eq $labels.job \"node\") (or (eq $labels.code \"500\") (eq $labels.code \"503\")) }}5xx{{ end }}"),
    ("nested_define_vars", "{{ define \"N\" }}{{ $x := . }}{{ range $i, $c := $x }}{{ if $i }},{{ end }}{{ $c }}{{ end }}{{ end }}{{ template \"N\" $labels }}"),
    ("print_types", "{{ print 1 2 }}|{{ print \"a\" \"b\" }}|{{ print 1.0 2.5 }}|{{ print true false }}|{{ println }}"),
    ("float_literals_print", "{{ 0.1 }} {{ 1e21 }} {{ 1e-7 }} {{ 123456789.0 }} {{ -0.0 }} {{ 0x10 }} {{ 1e100 }}"),
    ("printf_float_edge", "{{ printf \"%.3g|%.10g|%g|%G|%E|%8.2f|%-8.1f|\" 0.0001234 123456789.0 1e-10 1e20 12345.678 -1.005 2.25 }}"),
    ("printf_int_edge", "{{ printf \"%+5d|%x|%#o|%08b|%3c|%U|%q\" -3 -255 8 5 65 9731 65 }}"),
    ("humanize_edge", "{{ humanize 999.95 }} {{ humanize 1000 }} {{ humanize 0.001 }} {{ humanize1024 1023 }} {{ humanize1024 1 }} {{ humanize1024 -2048 }} {{ humanize \"Inf\" }} {{ humanize \"-inf\" }} {{ humanize \"NaN\" }} {{ humanize \"0x1p4\" }} {{ humanize \" 1\" | print }}"),
    ("humanize_hex_str", "{{ humanize \"0x10\" }}"), ("humanize_underscore", "{{ humanize \"1_000\" }}"),
    ("humanize_str_ok", "{{ humanize \"1234\" }} {{ humanize \"1e3\" }} {{ humanizeDuration \"90\" }}"),
    ("to_upper_unicode", "{{ toUpper \"straße é\" }} {{ title \"élan vital\" }}"),
    ("re_edge", "{{ reReplaceAll \"^\" \">\" \"ab\" }}|{{ reReplaceAll \"$\" \"<\" \"ab\" }}|{{ reReplaceAll \"(a)(b)?\" \"[$2]\" \"a ab\" }}|{{ reReplaceAll \"é\" \"e\" \"café\" }}|{{ match \"(?i)NODE\" $labels.job }}"),
    ("js_html_nonstring", "{{ html 1 2 }} {{ js 1.5 }} {{ urlquery \"a\" 1 }}"),
    ("comparisons_strings", "{{ lt \"a\" \"b\" }} {{ eq 1 1 }} {{ eq 1.5 1.5 }} {{ eq true true }} {{ ne \"a\" \"a\" }}"),
    ("compare_bool_lt", "{{ lt true false }}"), ("eq_map", "{{ eq $labels $labels }}"),
    # execution errors
    ("wrong_arg_count", "{{ humanize }}"), ("wrong_arg_count2", "{{ toUpper \"a\" \"b\" }}"),
    ("wrong_type", "{{ toUpper 1 }}"), ("wrong_type_pipe", "{{ 1.5 | toUpper }}"),
    ("not_a_function", "{{ \"x\" 1 }}"), ("nil_command", "{{ nil }}"), ("index_oob", "{{ index \"abc\" 5 }}"),
    ("len_bad", "{{ len 3 }}"),
]

BAD = [  # parse errors, reported by promtool check rules
    ("unknown_func", "{{ foo }}"), ("unclosed_action", "{{ $labels.job "), ("unclosed_action_nl", "a\nb {{ $labels.job\n"),
    ("end_without_opener", "{{ end }}"), ("unexpected_eof", "x\n{{ if .x }}y"), ("else_without_if", "{{ else }}"),
    ("undefined_var", "{{ $nope }}"), ("bad_string", "{{ \"abc }}"), ("unclosed_paren", "{{ (1 }}"),
    ("bad_number", "{{ 1x }}"), ("unclosed_comment", "{{/* x }}"), ("bad_char", "{{ $labels.job# }}"),
    ("non_exec_pipe", "{{ 1 | 2 }}"), ("empty_action", "{{ }}"), ("break_outside", "{{ break }}"),
    ("range_too_many", "{{ range $a, $b, $c := . }}{{ end }}"), ("tmpl_func", "{{ tmpl \"x\" . }}"),
    ("dot_after_literal", "{{ \"x\".y }}"), ("missing_end_define", "{{ define \"x\" }}y"),
    ("unexpected_paren", "{{ ) }}"), ("pipe_start", "{{ | x }}"), ("int_overflow", "{{ 99999999999999999999 }}"),
]


def _promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def _parse_label_set(text: str) -> dict[str, str]:
    return {m.group(1): ast.literal_eval('"' + m.group(2) + '"')
            for m in re.finditer(r'(\w+)="((?:[^"\\]|\\.)*)"', text)}


def _render(cases_by_alert: dict[str, tuple[str, list[str]]], workdir: Path) -> dict[str, dict[str, str]]:
    rules = [{"alert": alert, "expr": expr, "annotations": {f"a{i}": t for i, t in enumerate(templates)}}
             for alert, (expr, templates) in cases_by_alert.items()]
    (workdir / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    series = [{"series": "m" + "{" + ",".join(f'{k}="{v}"' for k, v in SERIES_LABELS.items()) + "}",
               "values": "1"}]
    series += [{"series": s, "values": repr(v)} for s, v in INPUT_SERIES.items()]
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "external_labels": EXTERNAL_LABELS, "external_url": EXTERNAL_URL,
        "input_series": series,
        "alert_rule_test": [{"eval_time": "0m", "alertname": a, "exp_alerts": []} for a in cases_by_alert]}]}
    (workdir / "test.yml").write_text(yaml.safe_dump(test))
    output = _promtool("test", "rules", "test.yml", cwd=workdir)
    got: dict[str, dict[str, str]] = {}
    for labels, annotation_text in re.findall(r"Labels:(\{.*?\})\n\s*Annotations:(\{.*\})\n", output):
        got[_parse_label_set(labels)["alertname"]] = _parse_label_set(annotation_text)
    missing = set(cases_by_alert) - set(got)
    if missing:
        sys.exit(f"promtool gave no result for {sorted(missing)}:\n{output[:3000]}")
    return got


def main() -> None:
    golden: dict[str, object] = {"external_url": EXTERNAL_URL, "external_labels": EXTERNAL_LABELS,
                                 "series_labels": SERIES_LABELS,
                                 "queries": {q: [{"labels": l, "value": v} for l, v in r] for q, r in QUERY_RESULTS.items()},
                                 "cases": [], "bad": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        alerts: dict[str, tuple[str, list[str]]] = {"Base": ("m * 0 + 1", [t for _, t in CASES])}
        for name, expr in VALUES.items():
            alerts["V_" + name] = (expr, VALUE_TEMPLATES)
        got = _render(alerts, workdir)
        value_of = {name: _value(expr) for name, expr in VALUES.items()}
        for i, (case_id, template) in enumerate(CASES):
            golden["cases"].append({"id": case_id, "template": template, "value": "1", "alert": "Base",
                                    "want": got["Base"][f"a{i}"]})
        for name in VALUES:
            for i, template in enumerate(VALUE_TEMPLATES):
                golden["cases"].append({"id": f"{name}_{i}", "template": template, "value": value_of[name],
                                        "alert": "V_" + name, "want": got["V_" + name][f"a{i}"]})
        rules = [{"alert": "Bad", "expr": "m", "annotations": {case_id: t}} for case_id, t in BAD]
        for (case_id, template), rule in zip(BAD, rules):
            (workdir / "bad.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
            output = _promtool("check", "rules", "bad.yml", cwd=workdir)
            found = re.search(rf'annotation "{case_id}": (.*)', output)
            golden["bad"].append({"id": case_id, "template": template,
                                  "want": found.group(1) if found else "NO ERROR: " + output.strip()})
    (HERE / "golden.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(golden['cases'])} cases and {len(golden['bad'])} bad templates")


def _value(expr: str) -> str:
    """The $value an expression gives (as a string Python's float() reads), computed as PromQL does."""
    special = {"m * 0 + NaN": "nan", "m * 0 + Inf": "inf", "m * 0 - Inf": "-inf", "-(m * 0)": "-0.0", "m * 0": "0"}
    if expr in special:
        return special[expr]
    sign = -1 if " - " in expr else 1
    return repr(sign * float(expr.rsplit(" ", 1)[1]) + 0.0)


if __name__ == "__main__":
    main()
