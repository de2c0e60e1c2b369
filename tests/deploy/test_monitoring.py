"""The shipped alert rules and Grafana dashboard: valid, and reading only metrics the code exports."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from gateway.metrics import GatewayMetrics
from scheduler.metrics import SchedulerMetrics
from shared.queue import Queue
from shared.queue.loggers import LastUpload, LoggerBook
from worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yaml"
ALERTS_TEST = ROOT / "deploy/prometheus/alerts_test.yaml"
DASHBOARD = ROOT / "deploy/grafana/zarr-ingress.json"
METRIC_NAME = re.compile(r"\bzarr_ingress_[a-z_]+\b")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def exported_metric_names(tmp_path: Path) -> set[str]:
    """Every series name the gateway's /metrics and the worker's and scheduler's registries expose,
    labels touched once."""
    queue = Queue(tmp_path / "queue")
    book = LoggerBook(queue.root)
    book.merge([LastUpload("tree", "oak-01", 1_700_000_000.0, 12)])
    gateway = GatewayMetrics(queue, ["tree"], book, {"tree": 1800.0})
    gateway.count_upload("tree", 202)
    worker = WorkerMetrics()
    for metric in (worker.merged, worker.failed, worker.retried, worker.waiting, worker.last_merge, worker.store_errors):
        metric.labels("tree")
    worker.merge_seconds.labels("tree").observe(0.1)
    worker.batch_items.labels("tree").observe(1)
    scheduler = SchedulerMetrics()
    scheduler.declare("yr", 3600.0, last_success=1.0)  # what the scheduler does for each scraper at start
    text = gateway.render().decode() + generate_latest(worker.registry).decode()
    text += generate_latest(scheduler.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([tool, "test", "rules", str(ALERTS_TEST)], capture_output=True, text=True, timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_alert_rules_cover_failures_age_merges_disk_and_heartbeat() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    exprs = " ".join(rule["expr"] for rule in rules)
    for metric in ("zarr_ingress_queue_failed_items", "zarr_ingress_queue_oldest_age_seconds",
                   "zarr_ingress_worker_last_merge_timestamp_seconds", "zarr_ingress_queue_free_bytes",
                   "zarr_ingress_worker_heartbeat_age_seconds"):
        assert metric in exprs, f"no alert reads {metric}"
    assert all(rule["annotations"].get("summary") for rule in rules)


def test_alerts_and_dashboard_read_only_metrics_the_code_exports(tmp_path: Path) -> None:
    exported = exported_metric_names(tmp_path)
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard_exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = set(METRIC_NAME.findall(ALERTS.read_text())) | set(METRIC_NAME.findall(" ".join(dashboard_exprs)))
    assert used, "no metric found in the rules or the dashboard"
    assert used <= exported, f"read but never exported: {sorted(used - exported)}"


def test_dashboard_is_grafana_json_with_unique_panels_and_an_endpoint_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    assert all(panel["targets"] and panel["type"] for panel in dashboard["panels"])
    assert "endpoint" in {variable["name"] for variable in dashboard["templating"]["list"]}
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("uploads", "queue depth", "oldest", "merge duration", "failed", "store errors", "last successful merge"):
        assert topic in titles, f"no panel on {topic}"


def test_scraper_alerts_and_panels_read_runs_fetches_and_last_success() -> None:
    groups = {group["name"]: group["rules"] for group in yaml.safe_load(ALERTS.read_text())["groups"]}
    exprs = " ".join(rule["expr"] for rule in groups["zarr-ingress-scrapers"])
    for metric in ("zarr_ingress_scraper_last_success_timestamp_seconds", "zarr_ingress_scraper_interval_seconds",
                   "zarr_ingress_scraper_fetches_total", "zarr_ingress_scraper_runs_total"):
        assert metric in exprs, f"no scraper alert reads {metric}"
    panels = json.loads(DASHBOARD.read_text())["panels"]
    by_metric = {metric: [p["title"] for p in panels if any(metric in t["expr"] for t in p["targets"])]
                 for metric in ("zarr_ingress_scraper_runs_total", "zarr_ingress_scraper_fetches_total",
                                "zarr_ingress_scraper_last_success_timestamp_seconds")}
    assert all(by_metric.values()), f"no panel reads {[m for m, titles in by_metric.items() if not titles]}"
    assert "outcome" in " ".join(t["expr"] for p in panels for t in p["targets"] if "scraper_fetches" in t["expr"])
