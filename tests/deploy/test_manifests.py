"""The Kubernetes manifests (deploy/kubernetes/) as `kubectl kustomize` renders them.

Each overlay renders, passes the Kubernetes API schemas, runs as the image's unprivileged user
with nothing writable but its volumes, wires every setting the code reads, and, loaded with the
project's own configuration code, gives a valid configuration on every pod.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from gateway.upload import MULTIPART_OVERHEAD
from shared.config import Settings, load_settings
from shared.fuse.schema import load_schema
from shared.fuse.store import resolve_location
from k8s_render import (
    KUBERNETES, REPO, configmap_by_prefix, kubectl, kustomizations, objects, one, pod_specs, render,
    rendered_text, validator,
)

pytestmark = pytest.mark.skipif(
    kubectl() is None,
    reason="no kubectl with Kustomize v5: run `bash .ci/k8s-check.sh` (it installs one into .ci/.k8s-tools-venv)",
)

OVERLAYS = kustomizations()
IMAGE_USER = 11233
SECRET = "zarr-ingress-secrets"
# Where the code reads its environment, and the forms it reads it in.
CODE_DIRS = ("shared", "gateway", "worker", "scheduler", "oci")
ENV_READS = (
    re.compile(r"""environ(?:\.get)?[(\[]\s*["']([A-Z][A-Z0-9_]+)["']"""),
    # reader.text("STORE_URL", "ZF_STORE_URL"): a second name only when it closes the call (an alias),
    # not reader.choice("LOG_LEVEL", "INFO", ...), whose second argument is the default.
    re.compile(r"""reader\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["'](?:\s*,\s*["']([A-Z][A-Z0-9_]+)["'](?=\s*\)))?"""),
    re.compile(r"""(?:_env|env_int|env_number)\(\s*\w+\s*,\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""_count\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
)
OPTIONAL_TABLE = "### Settings the manifests leave unset"
# Keys of a WSGI request environ (gateway/slow_clients.py reads them as `environ.get`), not
# process environment variables.
WSGI_KEYS = {"CONTENT_LENGTH", "CONTENT_TYPE", "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR"}
# What an operator's Secret would hold, in the form the code parses.
SAMPLE_SECRETS = {"BASIC_AUTH_USERS_JSON": '{"logger-01": "sample-password"}'}


def env_names_the_code_reads() -> set[str]:
    names: set[str] = set()
    for folder in CODE_DIRS:
        for source in (REPO / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for pattern in ENV_READS:
                for match in pattern.finditer(text):
                    names.update(group for group in match.groups() if group)
    return names - WSGI_KEYS


def documented_optional() -> set[str]:
    """Names in the table of docs/deployment.md that lists the settings left unset on purpose."""
    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert OPTIONAL_TABLE in text, f"docs/deployment.md lost its section {OPTIONAL_TABLE!r}"
    section = text.split(OPTIONAL_TABLE, 1)[1].split("\n#", 1)[0]
    return {name for row in section.splitlines() if row.startswith("|")
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for _, spec in pod_specs(docs) for c in spec["containers"] + spec.get("initContainers", [])]


def container_env(docs: list[dict[str, Any]], container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The environment Kubernetes gives `container` in pod `pod_name`; secrets as samples."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{container['name']}: envFrom only from ConfigMaps, secrets by key"
        env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
        elif "fieldRef" in item["valueFrom"]:
            assert item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[item["name"]] = pod_name
        else:
            key = item["valueFrom"]["secretKeyRef"]["key"]
            env[item["name"]] = SAMPLE_SECRETS.get(key, f"sample-{key.lower()}")
    return env


def pod_names(statefulset: dict[str, Any]) -> list[str]:
    return [f"{statefulset['metadata']['name']}-{n}" for n in range(statefulset["spec"].get("replicas", 1))]


def materialize(docs: list[dict[str, Any]], spec: dict[str, Any], container: dict[str, Any],
                env: dict[str, str], root: Path) -> dict[str, str]:
    """Write the container's ConfigMap volumes under `root` and point `env`'s paths there."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = sorted(container["volumeMounts"], key=lambda m: -len(m["mountPath"]))
    for mount in mounts:
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        volume = volumes.get(mount["name"])
        if volume and "configMap" in volume:
            for key, value in one(docs, "ConfigMap", volume["configMap"]["name"])["data"].items():
                (target / key).write_text(value, encoding="utf-8")
    moved = dict(env)
    for name, value in env.items():
        for mount in mounts:
            if value == mount["mountPath"] or value.startswith(mount["mountPath"] + "/"):
                moved[name] = str(root) + value
                break
    return moved


def pod_settings(docs: list[dict[str, Any]], pod: str, name: str, root: Path) -> Settings:
    """What the code's own load_settings makes of container `name`'s environment and mounted
    files in pod `pod` (the files written under `root`)."""
    spec = statefulset(docs)["spec"]["template"]["spec"]
    env = materialize(docs, spec, container(docs, name), container_env(docs, container(docs, name), pod), root)
    return load_settings(env, dotenv=None)


def statefulset(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "StatefulSet", "zarr-ingress")


def container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [c for c in statefulset(docs)["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, f"expected one container {name}"
    return found[0]


def test_the_base_and_two_overlays_exist() -> None:
    assert {"base", "examples", "shards"} <= set(OVERLAYS)


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_kustomization_renders_and_passes_the_kubernetes_schemas(kustomization: str, tmp_path: Path) -> None:
    docs = render(kustomization)
    assert objects(docs, "StatefulSet") and objects(docs, "Ingress") and objects(docs, "PodDisruptionBudget")
    command = validator()
    if command is None:
        pytest.skip("kubernetes-validate not installed: run `bash .ci/k8s-check.sh`")
    file = tmp_path / "rendered.yaml"
    file.write_text(rendered_text(kustomization), encoding="utf-8")
    result = subprocess.run([command, "--strict", "--quiet", "-k", "1.37.0", str(file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_pod_runs_restricted(kustomization: str) -> None:
    docs = render(kustomization)
    for workload, spec in pod_specs(docs):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == IMAGE_USER and pod["runAsGroup"] == IMAGE_USER
        assert pod["fsGroup"] == IMAGE_USER, f"{workload}: the queue volume must be writable by the image's user"
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in spec["containers"]:
            where = f"{workload}/{c['name']}"
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context.get("privileged", False) is False, where
            assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), where
            assert "runAsUser" not in context or context["runAsUser"] == IMAGE_USER, where
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in c["volumeMounts"]), \
                f"{where}: /tmp must be an emptyDir (the root filesystem is read-only)"
            assert "memory" in c["resources"]["limits"] and c["resources"]["requests"], where


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_images_are_pinned_to_the_project_version(kustomization: str) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    images = {c["image"] for c in containers(render(kustomization))}
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name.endswith("zarr-fuse-ingress") and tag == version, f"{image}: expected tag {version}"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_each_pod_has_its_own_readwriteonce_queue_volume(kustomization: str) -> None:
    docs = render(kustomization)
    sts = statefulset(docs)
    claims = {t["metadata"]["name"]: t["spec"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert claims["queue"]["accessModes"] == ["ReadWriteOnce"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert not objects(docs, "PersistentVolumeClaim"), "a standalone claim would be shared by the pods"
    for doc in docs:
        assert "ReadWriteMany" not in yaml.safe_dump(doc), f"{doc['kind']} {doc['metadata']['name']}: never RWX"
    spec = sts["spec"]["template"]["spec"]
    assert not any(v["name"] == "queue" for v in spec["volumes"]), "the queue must come from the claim template"
    for c in spec["containers"]:
        queue = [m for m in c["volumeMounts"] if m["name"] == "queue"]
        assert [m["mountPath"] for m in queue] == ["/ingress-server/queue"], c["name"]
        assert container_env(docs, c, "zarr-ingress-0")["QUEUE_DIR"] == "/ingress-server/queue"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_probes_use_the_gateway_routes_and_the_worker_health_command(kustomization: str) -> None:
    docs = render(kustomization)
    gateway, worker = container(docs, "gateway"), container(docs, "worker")
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["ports"][0]["containerPort"] == int(container_env(docs, gateway, "zarr-ingress-0")["PORT"])
    assert worker["livenessProbe"]["exec"]["command"] == ["ingress-healthcheck"]
    assert worker["ports"][0]["containerPort"] == int(container_env(docs, worker, "zarr-ingress-0")["WORKER_METRICS_PORT"])
    assert gateway["command"] == ["zarr-ingress", "gateway"] and worker["command"] == ["zarr-ingress", "worker"]
    for scheduler in [c for c in statefulset(docs)["spec"]["template"]["spec"]["containers"] if c["name"] == "scheduler"]:
        port = container_env(docs, scheduler, "zarr-ingress-0")["SCHEDULER_METRICS_PORT"]
        # An explicit URL: without one the health command probes the gateway (same 127.0.0.1).
        assert scheduler["livenessProbe"]["exec"]["command"] == ["ingress-healthcheck", f"http://127.0.0.1:{port}/metrics"]


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_environment_variable_the_code_reads_is_wired_or_documented_optional(kustomization: str) -> None:
    read = env_names_the_code_reads()
    # The scan must keep finding the known forms, or this test would pass on nothing.
    assert {"QUEUE_DIR", "S3_SECRET_KEY", "ZF_S3_SECRET_KEY", "WEB_CONCURRENCY", "WORKER_NICE", "HOST",
            "SCHEDULER_ATTEMPTS", "SCHEDULER_METRICS_PORT"} <= read
    docs = render(kustomization)
    wired: set[str] = set()
    for c in containers(docs):
        wired |= set(container_env(docs, c, "zarr-ingress-0"))
    missing = sorted(read - wired - documented_optional())
    assert not missing, (f"{kustomization}: the code reads {missing}: wire them in deploy/kubernetes/base/settings.env "
                         f"(or the Secret {SECRET} for secrets), or list them under {OPTIONAL_TABLE!r} in docs/deployment.md")


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_secrets_come_only_from_the_secret_and_the_gateway_gets_no_s3_keys(kustomization: str) -> None:
    docs = render(kustomization)
    assert not objects(docs, "Secret"), "no secret values in the repository"
    secret_names = {"BASIC_AUTH_USERS_JSON", "S3_ACCESS_KEY", "S3_SECRET_KEY", "SMTP_PASSWORD", "NOTIFY_WEBHOOK_URL"}
    for configmap in objects(docs, "ConfigMap"):
        leaked = secret_names & set(configmap["data"]) | {k for k in configmap["data"] if k.startswith("ZF_S3_")}
        assert not leaked, f"ConfigMap {configmap['metadata']['name']} holds {leaked}"
    for c in containers(docs):
        for item in c.get("env", []):
            if item["name"] in secret_names:
                assert item["valueFrom"]["secretKeyRef"]["name"] == SECRET, f"{c['name']}: {item['name']}"
    gateway_env = {item["name"] for item in container(docs, "gateway").get("env", [])}
    assert not gateway_env & {"S3_ACCESS_KEY", "S3_SECRET_KEY"}, "the gateway never touches S3"
    assert "BASIC_AUTH_USERS_JSON" in gateway_env
    worker_env = {item["name"] for item in container(docs, "worker").get("env", [])}
    assert {"S3_ACCESS_KEY", "S3_SECRET_KEY"} <= worker_env
    for scheduler in [c for c in statefulset(docs)["spec"]["template"]["spec"]["containers"] if c["name"] == "scheduler"]:
        # It notifies failed runs (mail, webhook) and never touches S3.
        scheduler_env = {item["name"] for item in scheduler.get("env", [])}
        assert {"SMTP_PASSWORD", "NOTIFY_WEBHOOK_URL"} <= scheduler_env and not scheduler_env & {"S3_ACCESS_KEY", "S3_SECRET_KEY"}


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_ingress_body_limit_matches_max_upload_bytes(kustomization: str) -> None:
    docs = render(kustomization)
    limit = one(docs, "Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", limit.lower()).groups()
    body = int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    max_upload = int(container_env(docs, container(docs, "gateway"), "zarr-ingress-0")["MAX_UPLOAD_BYTES"])
    # The gateway takes MAX_UPLOAD_BYTES of data plus the multipart framing around it: a lower
    # limit would refuse uploads the gateway accepts; a little higher lets the gateway answer.
    allowed = max_upload + MULTIPART_OVERHEAD
    assert allowed <= body <= allowed + 1024**2, f"proxy-body-size {limit} vs MAX_UPLOAD_BYTES {max_upload}"
    assert one(docs, "Ingress")["spec"]["tls"], "Basic auth sends passwords: TLS is required"


@pytest.mark.parametrize("kustomization", OVERLAYS)
def test_every_pod_loads_a_valid_configuration_and_each_route_reaches_its_pod(kustomization: str, tmp_path: Path) -> None:
    """load_settings (the code's own) on each pod's environment and mounted files; then the
    Ingress sends each endpoint's route to a Service that selects exactly that pod."""
    docs = render(kustomization)
    sts = statefulset(docs)
    spec = sts["spec"]["template"]["spec"]
    template_labels = sts["spec"]["template"]["metadata"]["labels"]
    paths = [p for rule in one(docs, "Ingress")["spec"]["rules"] for p in rule["http"]["paths"]]
    services = {s["metadata"]["name"]: s for s in objects(docs, "Service")}
    for pod in pod_names(sts):
        # The scheduler reads the same settings.
        gateway, worker = (pod_settings(docs, pod, name, tmp_path / pod / name) for name in ("gateway", "worker"))
        assert gateway.production and gateway.auth_enabled and gateway.users
        assert [e.name for e in gateway.endpoints] == [e.name for e in worker.endpoints], \
            f"{pod}: the gateway and the worker must serve the same endpoints"
        for endpoint in gateway.endpoints:
            path = ingress_path_for(paths, endpoint.route)
            assert path is not None and path["pathType"] == "Prefix", f"{pod}: {endpoint.route} is not routed"
            selector = services[path["backend"]["service"]["name"]]["spec"]["selector"]
            reached = [other for other in pod_names(sts)
                       if selector.items() <= {**template_labels, "statefulset.kubernetes.io/pod-name": other}.items()]
            assert reached == [pod], f"{endpoint.route} is served by {pod} but its Service reaches {reached}"


def ingress_path_for(paths: list[dict[str, Any]], route: str) -> dict[str, Any] | None:
    """The Ingress path that takes `route` and what lies below it: the longest matching prefix."""
    matching = [p for p in paths if p["pathType"] == "Prefix"
                and (route + "/").startswith(p["path"].rstrip("/") + "/")]
    return max(matching, key=lambda p: len(p["path"]), default=None)


def test_shards_serve_every_endpoint_once_and_write_disjoint_stores(tmp_path: Path) -> None:
    docs = render("shards")
    base = pod_settings(render("base"), "zarr-ingress-0", "worker", tmp_path / "base")
    names: list[str] = []
    stores: dict[str, str] = {}
    for pod in pod_names(statefulset(docs)):
        settings = pod_settings(docs, pod, "worker", tmp_path / pod)
        assert settings.endpoints, f"{pod} serves no endpoint"
        for endpoint in settings.endpoints:
            names.append(endpoint.name)
            schema = load_schema(endpoint.schema_path)
            # The pod's own environment: a STORE_URL there would send every endpoint to one store.
            environ = container_env(docs, container(docs, "worker"), pod)
            where = resolve_location(schema.attrs, environ, endpoint.schema_path.name)
            store = f"{where.kind}:{where.path}"
            assert stores.setdefault(store, pod) == pod, f"store {store} written by {stores[store]} and {pod}"
    assert sorted(names) == sorted(e.name for e in base.endpoints), "each endpoint on exactly one shard"


def test_copies_in_the_manifests_equal_their_sources() -> None:
    """The base's sample schemas and the PrometheusRule are copies (Kustomize reads only inside
    its folders): tools/gen_k8s_config.py writes them, and says here when one is out of date."""
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_k8s_config.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rule = one(render("examples"), "PrometheusRule")
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    assert rule["spec"] == alerts


def test_service_monitor_scrapes_the_gateway_the_worker_and_the_scheduler() -> None:
    docs = render("examples")
    service = one(docs, "Service", "zarr-ingress")
    monitor = one(docs, "ServiceMonitor")
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"http", "worker-metrics", "scheduler-metrics"}
    assert {p["name"] for p in service["spec"]["ports"]} >= {"http", "worker-metrics"}
    # Where the pod runs a scheduler, the Service has its port, and it is the one the scheduler serves.
    base = render("base")
    ports = {p["name"]: p for p in one(base, "Service", "zarr-ingress")["spec"]["ports"]}
    scheduler = container(base, "scheduler")
    assert ports["scheduler-metrics"]["port"] == scheduler["ports"][0]["containerPort"] == \
        int(container_env(base, scheduler, "zarr-ingress-0")["SCHEDULER_METRICS_PORT"])
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    for kustomization in ("examples", "shards"):
        scraped = [s["metadata"]["name"] for s in objects(render(kustomization), "Service")
                   if selector <= s["metadata"].get("labels", {}).items()]
        assert scraped == ["zarr-ingress"], f"{kustomization}: each pod must be scraped through one Service, not {scraped}"


def test_without_scheduler_component_removes_only_the_scheduler() -> None:
    with_it = [c["name"] for c in statefulset(render("base"))["spec"]["template"]["spec"]["containers"]]
    without = [c["name"] for c in statefulset(render("examples"))["spec"]["template"]["spec"]["containers"]]
    assert with_it == ["gateway", "worker", "scheduler"] and without == ["gateway", "worker"]
    ports = [p["name"] for p in one(render("examples"), "Service", "zarr-ingress")["spec"]["ports"]]
    assert ports == ["http", "worker-metrics"], "no Service port left pointing at the removed scheduler"
    assert container(render("base"), "scheduler")["command"] == ["zarr-ingress", "scheduler"]
    assert KUBERNETES.joinpath("components", "without-scheduler", "kustomization.yaml").is_file()
