#!/usr/bin/python3
"""Every metric that the Grafana dashboard, the alert rules and the autoscaler query is one the code exports.

Usage (from //deploy:metric_names_test): metric_names_test.py --sources=<C++ files> --promql_files=<files>
The exported names are the "genailab_*" / "process_*" string literals of the C++ sources that register
metrics; histogram queries may add _bucket, _sum or _count. Names of other exporters are allowed only from
EXTERNAL (Prometheus' own `up`, NVIDIA dcgm-exporter's DCGM_FI_*).
"""
import argparse
import json
import re
import sys
import unittest

import yaml

EXTERNAL = re.compile(r"^(up|DCGM_FI_[A-Z0-9_]+)$")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
             "offset", "inf", "nan"}
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_names(source_texts):
    names = set()
    for text in source_texts:
        names.update(re.findall(r'"((?:genailab|process)_[a-z0-9_]+)"', text))
    return names


def metric_names(expr):
    """Metric names a PromQL expression selects (label matchers, grouping labels and ranges removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        name, is_call = match.group(1), match.group(2)
        if is_call or name in _KEYWORDS or re.fullmatch(r"[0-9eE]+", name):
            continue
        names.add(name)
    return names


def is_exported(name, exported):
    if name in exported or EXTERNAL.match(name):
        return True
    return any(name.endswith(suffix) and name[:-len(suffix)] in exported for suffix in _HISTOGRAM_SUFFIXES)


def dashboard_exprs(path):
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs.append((f"{path}: panel '{panel['title']}'", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query", {})
        text = query.get("query", "") if isinstance(query, dict) else query
        inner = re.search(r"label_values\(\s*([^,)]+)", text)
        if inner:
            exprs.append((f"{path}: variable '{variable['name']}'", inner.group(1)))
    return exprs


def yaml_exprs(path):
    """PromQL in rule files (expr:) and in prometheus-adapter configs (seriesQuery:), in any YAML."""
    exprs = []
    with open(path, encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))

    def walk(node, where):
        if isinstance(node, dict):
            where = node.get("alert") or node.get("record") or where
            for key, value in node.items():
                if key in ("expr", "seriesQuery") and isinstance(value, str):
                    exprs.append((f"{path}: {where}", value))
                elif key == "config.yaml" and isinstance(value, str):  # adapter rules inside a ConfigMap
                    walk(yaml.safe_load(value), where)
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for child in node:
                walk(child, where)

    for document in documents:
        walk(document, "")
    return exprs


class MetricNamesTest(unittest.TestCase):
    exported = set()
    exprs = []
    dashboards = []

    def test_the_sources_export_the_core_metrics(self):
        for name in ("genailab_requests_total", "genailab_request_duration_seconds", "genailab_pending_requests"):
            self.assertIn(name, self.exported)

    def test_every_queried_metric_is_exported(self):
        self.assertGreater(len(self.exprs), 10)
        unknown = []
        for where, expr in self.exprs:
            names = metric_names(expr)
            self.assertTrue(names, f"{where}: no metric in '{expr}'")
            unknown += [f"{where}: {name}" for name in sorted(names) if not is_exported(name, self.exported)]
        self.assertEqual(unknown, [], "metrics that no C++ source exports")

    def test_dashboards_are_well_formed_and_cover_the_topics(self):
        self.assertTrue(self.dashboards)
        for path in self.dashboards:
            with open(path, encoding="utf-8") as f:
                dashboard = json.load(f)
            panels = dashboard["panels"]
            self.assertEqual(len({p["id"] for p in panels}), len(panels), "panel ids repeat")
            cells = set()
            for panel in panels:
                box = panel["gridPos"]
                self.assertLessEqual(box["x"] + box["w"], 24, panel["title"])
                covered = {(x, y) for x in range(box["x"], box["x"] + box["w"])
                           for y in range(box["y"], box["y"] + box["h"])}
                self.assertFalse(cells & covered, f"panel '{panel['title']}' overlaps another")
                cells |= covered
                self.assertEqual(panel["datasource"]["uid"], "prometheus", panel["title"])
                ref_ids = [target["refId"] for target in panel["targets"]]
                self.assertEqual(len(set(ref_ids)), len(ref_ids), panel["title"])
            titles = " | ".join(panel["title"].lower() for panel in panels)
            for topic in ("throughput", "latency percentiles", "queue depth", "batch size", "errors by status code",
                          "model versions", "gpu", "training progress"):
                self.assertIn(topic, titles)

    def test_the_parser_finds_names_and_skips_labels_functions_and_keywords(self):
        self.assertEqual(metric_names('histogram_quantile(0.99, sum by (le, rpc) '
                                      '(rate(foo_seconds_bucket{code!~"OK|x"}[5m]))) > 2 or bar == 0'),
                         {"foo_seconds_bucket", "bar"})
        self.assertTrue(is_exported("foo_seconds_bucket", {"foo_seconds"}))
        self.assertFalse(is_exported("foo_seconds_total", {"foo_seconds"}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--dashboards", nargs="*", default=[])
    parser.add_argument("--yaml_files", nargs="*", default=[])
    args, rest = parser.parse_known_args()
    texts = []
    for path in args.sources:
        with open(path, encoding="utf-8") as f:
            texts.append(f.read())
    MetricNamesTest.exported = exported_names(texts)
    MetricNamesTest.dashboards = args.dashboards
    MetricNamesTest.exprs = ([e for path in args.dashboards for e in dashboard_exprs(path)] +
                             [e for path in args.yaml_files for e in yaml_exprs(path)])
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
