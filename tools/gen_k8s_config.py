#!/usr/bin/env python3
"""Write the files of deploy/kubernetes/ that copy files elsewhere in the repository.

Kustomize reads files only inside a kustomization's own folder, so the base carries copies:
    schemas/*.yaml (the sample endpoints file and the schemas it names)
        -> deploy/kubernetes/base/schemas/
    deploy/prometheus/alerts.yaml (the promtool-checked alert rules)
        -> deploy/kubernetes/components/monitoring/prometheusrule.yaml, as a PrometheusRule

    python tools/gen_k8s_config.py          # write them
    python tools/gen_k8s_config.py --check  # exit 1, naming them, when any is out of date

tests/deploy/ fails while a copy differs from its source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
BASE_SCHEMAS = REPO / "deploy" / "kubernetes" / "base" / "schemas"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
PROMETHEUS_RULE = REPO / "deploy" / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"

RULE_HEADER = """\
# Written by tools/gen_k8s_config.py from deploy/prometheus/alerts.yaml: edit that file (it is
# checked with promtool there), then run the tool again.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: zarr-ingress
spec:
"""


def sample_schema_files() -> list[str]:
    """endpoints_config.yaml and the schema files its entries name, as in schemas/."""
    entries = yaml.safe_load((SCHEMAS / "endpoints_config.yaml").read_text(encoding="utf-8"))
    if isinstance(entries, dict):  # the `endpoints:` form
        entries = entries.get("endpoints", [])
    return ["endpoints_config.yaml", *sorted({entry["schema_path"] for entry in entries})]


def prometheus_rule(alerts_text: str) -> str:
    """The rules file (top-level `groups:`) as the spec of a PrometheusRule, comments kept."""
    body = [f"  {line}" if line.strip() else "" for line in alerts_text.splitlines()]
    return RULE_HEADER + "\n".join(body).rstrip() + "\n"


def expected_files() -> dict[Path, str]:
    files = {BASE_SCHEMAS / name: (SCHEMAS / name).read_text(encoding="utf-8") for name in sample_schema_files()}
    files[PROMETHEUS_RULE] = prometheus_rule(ALERTS.read_text(encoding="utf-8"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    stale = [path for path, text in expected_files().items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(REPO)} (run python tools/gen_k8s_config.py)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected_files()[path], encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
