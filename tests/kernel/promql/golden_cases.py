"""The input series and expressions of the golden tests (answers come from promtool, Prometheus 2.42).

Edit here, then run `python -m tests.kernel.promql.testdata.generate_golden` to refresh golden.json.
"""

from __future__ import annotations

INTERVAL = "1m"

SERIES: list[tuple[str, str]] = [
    ('http_requests_total{job="api",instance="a",method="get",code="200"}', "0+10x30"),
    ('http_requests_total{job="api",instance="a",method="post",code="500"}', "0+3x10 2+3x19"),
    ('http_requests_total{job="api",instance="b",method="get",code="200"}', "5+7x30"),
    ('http_requests_total{job="db",instance="c",method="get",code="404"}', "_x5 1+1x10 stale 3+1x10"),
    ('node_temp{instance="a",job="node",zone="z1"}',
     "20 21 19.5 22 25 23 24.25 21 20 19 18 17 18 19 22 25 28 27.5 26 25 24 23 22 21 20 21 22 23 22 21 20"),
    ('node_temp{instance="b",job="node",zone="z2"}', "1 NaN 3 Inf 5 -Inf 7 _ _ 10 stale _ 12 13 14 15 0 -1 -2"),
    ('node_info{instance="a",job="node",version="1.2",team="x"}', "1+0x30"),
    ('node_info{instance="b",job="node",version="1.3",team="y"}', "1+0x30"),
    ('req_seconds_bucket{job="api",le="0.1"}', "0+1x30"),
    ('req_seconds_bucket{job="api",le="0.5"}', "0+3x30"),
    ('req_seconds_bucket{job="api",le="1"}', "0+4x30"),
    ('req_seconds_bucket{job="api",le="+Inf"}', "0+5x30"),
    ('req_seconds_bucket{job="db",le="0.25"}', "0+2x30"),
    ('req_seconds_bucket{job="db",le="1.0"}', "0+1x30"),
    ('req_seconds_bucket{job="db",le="2.5"}', "0+6x30"),
    ('req_seconds_bucket{job="db",le="+Inf"}', "0+6x30"),
    ('req_seconds_bucket{job="bad",le="1"}', "0+1x30"),
    ('up{job="api",instance="a"}', "1+0x30"),
    ('up{job="api",instance="b"}', "1 1 0 0 1 1 1 0 1 1 1 1 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 0 1 1 1"),
    ('up{job="db",instance="c"}', "0+0x30"),
    ('disk_free_bytes{device="sda",instance="a"}', "1000-10x30"),
    ('disk_free_bytes{device="sdb",instance="b"}', "500+0x30"),
    ('epoch_seconds{kind="a"}', "1700000000+86400x30"),
    ('epoch_seconds{kind="b"}', "951782400+3600x30"),
    ('epoch_seconds{kind="c"}', "-1 0 1.5 -86400.5 4102444800"),
    ('labels_metric{src="foo-bar",other="x"}', "1+1x30"),
    ('labels_metric{src="baz",other="y"}', "2+0x30"),
    ('small{id="1"}', "0.5 -0.5 1.5 2.5 -2.5 0.49999999999999994 1e308 -0 3.7 -3.7"),
    ('short_lived{id="1"}', "_x10 1 2 3 stale"),
]

# Evaluation times in minutes; 33 and 37 are after the series end (lookback edges).
TIMES = [5, 12, 30, 33, 37]

SELECTOR_EXPRS = [
    "http_requests_total", 'http_requests_total{job=~"a.*"}', 'http_requests_total{code!="200"}',
    'http_requests_total{method!~"g.t"}', '{__name__=~"up|disk_free_bytes"}', "node_temp",
    "node_temp offset 5m", "node_temp offset -3m", "node_temp @ 600", "node_temp @ start()",
    "node_temp @ end() offset 2m", "short_lived", "up == 0", "missing_metric",
    'http_requests_total{job=""}', 'http_requests_total{instance=~""}',
]
ARITHMETIC_EXPRS = [
    "1 + 2 * 3 ^ 2 ^ 0.5 - 4 / 8 % 3", "-node_temp", "node_temp + 1", "2 * node_temp", "node_temp / 0",
    "0 / node_temp", "node_temp % 7", "7 % node_temp", "node_temp ^ 2", "2 ^ node_temp",
    "node_temp atan2 1", "1 atan2 node_temp", "-(-1)", "- time()", "up + up", "up * on(instance) node_temp",
    "http_requests_total - http_requests_total offset 5m", "disk_free_bytes / ignoring(device) up",
    "node_temp / on(instance) group_left(version, team) node_info",
    "node_info * on(instance) group_right node_temp",
    "node_temp + on(instance) group_left(zone) node_info",
    "sum by (instance) (http_requests_total) / on(instance) group_left sum by (instance, job) (up)",
    "http_requests_total / on(job, instance) group_left up", "http_requests_total * up",
    "(-1) ^ 0.5", "0 ^ -1", "(-0) ^ -1", "small ^ small", "small % 0.3", "10 % -3", "-10 % 3",
]
COMPARISON_EXPRS = [
    "node_temp > 20", "node_temp > bool 20", "20 < node_temp", "20 < bool node_temp", "node_temp == node_temp",
    "node_temp != bool node_temp", "node_temp >= on(instance) group_left node_info",
    "up == bool 1", "1 == bool 1", "2 < bool 1", "node_temp <= 21", "node_temp > on(instance) node_info",
    "http_requests_total > on(instance) group_left up", "http_requests_total > bool on(instance) group_left up",
    "node_info == bool on(instance) group_right up", "NaN == bool NaN", "Inf > bool 1",
]
SET_EXPRS = [
    "node_temp and up", "node_temp and on(instance) up", "node_temp or up", "up or node_temp",
    "node_temp unless up", "node_temp unless on(instance) up == 0", "http_requests_total and ignoring(method, code) up",
    "up unless on(job) http_requests_total", "missing_metric or up", "up and missing_metric",
    "node_temp > 20 or node_temp < 5",
]
AGGREGATION_EXPRS = [
    "sum(http_requests_total)", "sum by (job) (http_requests_total)", "sum without (method, code) (http_requests_total)",
    "avg by (job) (http_requests_total)", "avg(node_temp)", "min(node_temp)", "max(node_temp)",
    "min by (zone) (node_temp)", "count(http_requests_total)", "count by (code) (http_requests_total)",
    "group by (job) (http_requests_total)", "stddev(http_requests_total)", "stdvar by (job) (http_requests_total)",
    "stddev(node_temp)", "topk(2, http_requests_total)", "topk by (job) (1, http_requests_total)",
    "bottomk(2, http_requests_total)", "bottomk(1, node_temp)", "topk(1, node_temp)", "topk(0, node_temp)",
    "topk(100, up)", "quantile(0.5, http_requests_total)", "quantile by (job) (0.9, http_requests_total)",
    "quantile(1.5, up)", "quantile(-1, up)", "count_values(\"value\", up)", "count_values by (job) (\"v\", up)",
    "count_values(\"v\", small)", "sum by (__name__) ({__name__=~\"up|node_info\"})", "sum without () (up)",
    "sum(missing_metric)", "count(up) by (job) > 1", "avg without (le) (req_seconds_bucket)",
    "max by (instance) (node_temp) * on(instance) group_left max by (instance) (node_info)",
    "sum(rate(http_requests_total[5m])) by (job)", "topk(scalar(count(up)), http_requests_total)",
]
RANGE_FUNCTION_EXPRS = [
    f"{fn}({arg}[{rng}])"
    for fn in ("rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets")
    for arg, rng in (("http_requests_total", "5m"), ("node_temp", "10m"), ("http_requests_total", "1m30s"),
                     ("short_lived", "3m"))
] + [
    f"{fn}({arg}[{rng}])"
    for fn in ("avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
               "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time")
    for arg, rng in (("node_temp", "5m"), ("node_temp", "15m"), ("http_requests_total", "3m"))
] + [
    "rate(http_requests_total[5m] offset 10m)", "rate(http_requests_total[10m] @ 1200)",
    "increase(http_requests_total[7m])", "rate(http_requests_total[17s])", "delta(node_temp[1h])",
    "quantile_over_time(0.5, node_temp[10m])", "quantile_over_time(0.25, http_requests_total[6m])",
    "quantile_over_time(2, up[5m])", "predict_linear(disk_free_bytes[10m], 3600)",
    "predict_linear(node_temp[10m], 600)", "deriv(disk_free_bytes[5m])",
    "holt_winters(node_temp[10m], 0.5, 0.5)", "holt_winters(http_requests_total[5m], 0.1, 0.9)",
    "absent_over_time(node_temp[5m])", "absent_over_time(nonexistent{job=\"x\",a=~\"b\"}[5m])",
    "absent_over_time(short_lived[2m])", "max_over_time(rate(http_requests_total[2m])[10m:1m])",
    "rate(http_requests_total[5m:1m])", "min_over_time(node_temp[10m:2m])", "avg_over_time(up[7m:])",
    "max_over_time(deriv(rate(http_requests_total[2m])[5m:1m])[10m:])", "count_over_time(node_temp[5m:30s])",
    "sum_over_time(up[10m:3m] offset 1m)", "last_over_time(node_temp[10m:1m] @ 900)",
    "rate(req_seconds_bucket[5m])", "idelta(small[5m])", "changes(small[10m])",
]
INSTANT_FUNCTION_EXPRS = [
    f"{fn}(node_temp)"
    for fn in ("abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "sin", "cos", "tan",
               "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg", "rad")
] + [
    f"{fn}(small)" for fn in ("abs", "ceil", "floor", "exp", "ln", "sqrt", "sgn", "asin", "acosh", "atanh", "round")
] + [
    "round(node_temp)", "round(node_temp, 5)", "round(node_temp, 0.3)", "round(small, 2)",
    "clamp(node_temp, 19, 22)", "clamp(node_temp, 22, 19)", "clamp_max(node_temp, 21)", "clamp_min(node_temp, 21)",
    "time()", "vector(time())", "scalar(up)", "scalar(up{instance=\"a\"})", "vector(1) + scalar(missing)",
    "timestamp(node_temp)", "timestamp(-node_temp)", "timestamp(node_temp offset 1m)",
    "sort(node_temp)", "sort_desc(http_requests_total)", "absent(node_temp)", "absent(nonexistent)",
    "absent(nonexistent{job=\"x\",instance=~\"a\",job=\"y\"})", "absent(sum(nonexistent))", "pi()",
    "histogram_quantile(0.5, req_seconds_bucket)", "histogram_quantile(0.9, rate(req_seconds_bucket[5m]))",
    "histogram_quantile(0.99, sum by (le) (req_seconds_bucket))", "histogram_quantile(0, req_seconds_bucket)",
    "histogram_quantile(1, req_seconds_bucket)", "histogram_quantile(1.5, req_seconds_bucket)",
    "histogram_quantile(0.5, up)",
    "label_replace(labels_metric, \"dst\", \"$1-x\", \"src\", \"(foo)-(.*)\")",
    "label_replace(labels_metric, \"dst\", \"${2}_$1\", \"src\", \"(foo)-(.*)\")",
    "label_replace(labels_metric, \"dst\", \"$1x\", \"src\", \"(.*)\")",
    "label_replace(labels_metric, \"src\", \"\", \"src\", \"baz\")",
    "label_replace(labels_metric, \"dst\", \"$name\", \"src\", \"(?P<name>f.o).*\")",
    "label_replace(labels_metric, \"dst\", \"$$1\", \"src\", \".*\")",
    "label_replace(up, \"job\", \"x\", \"job\", \".*\")",
    "label_join(labels_metric, \"dst\", \",\", \"src\", \"other\")",
    "label_join(labels_metric, \"dst\", \"\", \"nothing\")", "label_join(up, \"new\", \"-\", \"job\", \"instance\", \"job\")",
    "year(epoch_seconds)", "month(epoch_seconds)", "day_of_month(epoch_seconds)", "day_of_week(epoch_seconds)",
    "day_of_year(epoch_seconds)", "days_in_month(epoch_seconds)", "hour(epoch_seconds)", "minute(epoch_seconds)",
    "year()", "month()", "minute()", "hour()", "day_of_week()",
]
ERROR_EXPRS = [
    "http_requests_total + up", "up * on() node_info", "node_info * on(job) group_left node_info",
    "label_replace(up, \"1x\", \"a\", \"job\", \".*\")", "{__name__=~\"up|node_temp\"} * 2",
    "rate({__name__=~\"http_requests_total|up\"}[5m])", "label_replace(up, \"instance\", \"x\", \"job\", \".*\")",
    "holt_winters(node_temp[5m], 1, 0.5)",
]

EXPRESSIONS = (
    SELECTOR_EXPRS + ARITHMETIC_EXPRS + COMPARISON_EXPRS + SET_EXPRS + AGGREGATION_EXPRS
    + RANGE_FUNCTION_EXPRS + INSTANT_FUNCTION_EXPRS + ERROR_EXPRS
)
