"""The deployment manifests are valid and say what the services need.

`deploy/k8s/*.yaml` are validated against the JSON schemas of Kubernetes 1.30 (strict: no
unknown fields) bundled in `kubernetes-validate`, and `deploy/compose.yaml` against the
compose-spec schema bundled in `check-jsonschema`; both work offline. On top of the schemas,
our own invariants: every service has a Deployment that runs it, with readiness and liveness
probes on `/readyz` and `/healthz` of the port that serves them, resource requests, a PDB, an
HPA bounded by the partition count, a hardened security context and a grace period covering
the shutdown drain; every `WORKFLOWS_*` name is a real setting; no secret value is written
in a manifest. The negative tests feed mutated copies through the same checks.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import kubernetes_validate
import pytest
import yaml

from workflows.runner import SERVICES
from workflows.services.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
SCRAPE = K8S / "prometheus" / "scrape-config.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
KUBERNETES_VERSION = "1.30"
EXAMPLE_SECRET = "secret.example.yaml"
PLACEHOLDER = "REPLACE-ME"
# WORKFLOWS_* variables read outside Settings, with the file that reads each one.
EXTRA_ENV: dict[str, str] = {}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)

Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> Doc:
    doc: Doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return doc


def manifests() -> list[Doc]:
    """Every resource `kubectl apply -k deploy/k8s` creates, in order."""
    return [doc for name in kustomization()["resources"] for doc in load_all(K8S / name)]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def where(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


# -- the checks (each returns its problems, naming the place) -----------------------------
def schema_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{where(doc)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where(doc)}: {exc.message}")
    return problems


def container_env(docs: list[Doc], deployment: Doc) -> dict[str, str | None]:
    """The container's environment: ConfigMap entries, then `env` (value or None: a ref)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    configmaps = of_kind(docs, "ConfigMap")
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def setting_port(env: dict[str, str | None], name: str) -> int:
    field = Settings.model_fields[name.removeprefix("WORKFLOWS_").lower()]
    return int(env.get(name) or field.default)


def health_port(service: str, env: dict[str, str | None]) -> int:
    """Where `workflows run <service>` serves the /healthz and /readyz the probes use."""
    return setting_port(
        env, "WORKFLOWS_HTTP_PORT" if service == "trigger" else "WORKFLOWS_METRICS_PORT"
    )


def metrics_port(env: dict[str, str | None]) -> int:
    """Where every service serves /metrics without an API key (0: nowhere)."""
    return setting_port(env, "WORKFLOWS_METRICS_PORT")


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def deployment_by_service(docs: list[Doc]) -> dict[str, Doc]:
    """Deployments by the service they run (`workflows run <service>`)."""
    return {
        d["spec"]["template"]["spec"]["containers"][0]["args"][1]: d
        for d in of_kind(docs, "Deployment").values()
    }


def deployment_problems(docs: list[Doc]) -> list[str]:
    """Every service runs in one Deployment that passes the checks below."""
    settings = settings_of(docs)
    by_service = deployment_by_service(docs)
    problems = []
    if sorted(by_service) != sorted(SERVICES):
        problems.append(f"Deployments run {sorted(by_service)}, expected {sorted(SERVICES)}")
    for service, deployment in by_service.items():
        problems += pod_problems(docs, service, deployment, settings)
        problems += companion_problems(docs, service, deployment, settings)
    return problems


def pod_problems(docs: list[Doc], service: str, deployment: Doc, settings: Settings) -> list[str]:
    """Command, probes on the health port, scrape port, resources, security, grace period."""
    at, pod = where(deployment), deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    problems = []
    if container["args"][0] != "run":
        problems.append(f"{at}: args must be `run {service} ...`, not {container['args']}")
    env = container_env(docs, deployment)
    settings = settings_from(env)  # fails on a value the service could not start with
    port, scraped = health_port(service, env), metrics_port(env)
    if scraped == 0:
        problems.append(f"{at}: no metrics port (WORKFLOWS_METRICS_PORT is 0)")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet")
        if get is None:
            problems.append(f"{at}: no {probe} (httpGet {path})")
            continue
        if get.get("path") != path:
            problems.append(f"{at}: {probe} path {get.get('path')!r}, expected {path}")
        probed = ports.get(get["port"], get["port"])
        if probed != port:
            problems.append(f"{at}: {probe} on port {probed}, the service serves {port}")
    if pod["metadata"].get("annotations", {}).get("prometheus.io/port") != str(scraped):
        problems.append(f"{at}: prometheus.io/port is not the /metrics port {scraped}")
    if scraped not in ports.values():
        problems.append(f"{at}: the metrics port {scraped} is not a containerPort")
    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= resources.get("requests", {}).keys() or "memory" not in (
        resources.get("limits", {})
    ):
        problems.append(f"{at}: needs cpu+memory requests and a memory limit")
    security = container.get("securityContext", {})
    if not (
        pod["spec"].get("securityContext", {}).get("runAsNonRoot")
        and security.get("readOnlyRootFilesystem")
        and security.get("allowPrivilegeEscalation") is False
        and security.get("capabilities", {}).get("drop") == ["ALL"]
    ):
        problems.append(f"{at}: must run non-root, read-only, no escalation, no capabilities")
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    drain = {
        "trigger": settings.wait_timeout_s + 10,  # a held `?wait=true` request
        "dispatcher": settings.drain_timeout_s + 10,  # in-flight function calls
        "worker": settings.drain_timeout_s + 10,
    }.get(service, 30)
    if grace < drain:
        problems.append(f"{at}: terminationGracePeriodSeconds {grace} < drain {drain}")
    return problems


def companion_problems(
    docs: list[Doc], service: str, deployment: Doc, settings: Settings
) -> list[str]:
    """One PDB, one HPA (2 to the partition count) and one Service for the Deployment."""
    at, labels = where(deployment), deployment["spec"]["template"]["metadata"]["labels"]
    problems = []
    budgets = of_kind(docs, "PodDisruptionBudget").values()
    if (n := sum(selects(b["spec"]["selector"]["matchLabels"], labels) for b in budgets)) != 1:
        problems.append(f"{at}: {n} PodDisruptionBudgets select its pods, expected 1")
    headless = [
        s
        for s in of_kind(docs, "Service").values()
        if selects(s["spec"]["selector"], labels) and s["spec"].get("clusterIP") == "None"
    ]
    if len(headless) != 1:
        problems.append(f"{at}: {len(headless)} headless Services (scrape targets), expected 1")
    scalers = [
        h["spec"]
        for h in of_kind(docs, "HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    if len(scalers) != 1:
        return [*problems, f"{at}: {len(scalers)} HorizontalPodAutoscalers, expected 1"]
    low, high = scalers[0]["minReplicas"], scalers[0]["maxReplicas"]
    if low < 2:
        problems.append(f"{at}: minReplicas {low}: a single node drain stops the service")
    if service != "trigger" and high > settings.partitions:
        problems.append(f"{at}: maxReplicas {high} > {settings.partitions} partitions")
    return problems


def settings_from(env: dict[str, str | None]) -> Settings:
    """`Settings()` as a process with exactly this environment builds it (values from a
    secretKeyRef, None here, are left out); pydantic-settings parses and validates each."""
    given = {k: v for k, v in env.items() if v is not None}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    with mock.patch.dict(os.environ, clean | given, clear=True):
        return Settings()


def settings_of(docs: list[Doc]) -> Settings:
    """The Settings the shared ConfigMap gives."""
    return settings_from(next(iter(of_kind(docs, "ConfigMap").values()))["data"])


def env_names(docs: list[Doc]) -> Iterator[tuple[str, str]]:
    """(place, name) of every environment variable a manifest sets."""
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            for name in doc["data"]:
                yield where(doc), name
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for item in container.get("env", []):
                    yield where(doc), item["name"]


def env_problems(named: Iterator[tuple[str, str]]) -> list[str]:
    fields = {f"WORKFLOWS_{name.upper()}" for name in Settings.model_fields}
    return [
        f"{place}: {name} is not a Settings field"
        for place, name in named
        if name.startswith("WORKFLOWS_") and name not in fields and name not in EXTRA_ENV
    ]


def secret_problems(docs: list[Doc]) -> list[str]:
    """No Secret with data is applied, and no secret-looking variable has a literal value."""
    problems = [
        f"{where(d)}: a Secret with values is applied" for d in docs if d["kind"] == "Secret"
    ]
    for doc in docs:
        literal: dict[str, Any] = {}
        if doc["kind"] == "ConfigMap":
            literal = doc["data"]
        elif doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            literal = {i["name"]: i["value"] for i in container.get("env", []) if "value" in i}
        for name, value in literal.items():
            if SECRET_NAME.search(name) and not name.endswith("_FILE"):
                problems.append(f"{where(doc)}: {name} is literal: use a secretKeyRef")
            if re.search(r"://[^/@\s]*:[^/@\s]+@", str(value)):
                problems.append(f"{where(doc)}: {name} holds a password in a URL")
    return problems


# -- the manifests pass --------------------------------------------------------------------
def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", EXAMPLE_SECRET}
    assert listed == on_disk
    assert EXAMPLE_SECRET not in listed


def test_every_manifest_is_valid_for_the_stated_kubernetes_version() -> None:
    docs = [*manifests(), *load_all(K8S / EXAMPLE_SECRET)]
    assert len(docs) == 3 + 4 * len(SERVICES) + 1 + 1  # + the trigger's API Service
    assert schema_problems(docs) == []


def test_every_service_has_probes_resources_a_pdb_an_hpa_and_a_hardened_pod() -> None:
    assert deployment_problems(manifests()) == []


def test_every_workflows_variable_is_a_setting_and_the_configmap_parses() -> None:
    docs = manifests()
    assert env_problems(env_names(docs)) == []
    settings = settings_of(docs)
    assert settings.replication_factor == 3 and settings.metrics_port == 9100
    for name, path in EXTRA_ENV.items():
        assert name in (ROOT / path).read_text(), f"{name} is no longer read by {path}"


def test_no_secret_value_is_written_and_every_referenced_key_is_in_the_example() -> None:
    docs = manifests()
    assert secret_problems(docs) == []
    example = load_all(K8S / EXAMPLE_SECRET)[0]
    assert set(example["stringData"].values()) == {PLACEHOLDER}
    referenced = set()
    for deployment in of_kind(docs, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        for item in pod["containers"][0].get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == example["metadata"]["name"]
                referenced.add(ref["key"])
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                referenced |= {i["key"] for i in volume["secret"].get("items", [])}
    assert referenced == set(example["stringData"])


def test_the_pods_run_as_the_image_user() -> None:
    user = re.findall(r"^USER (\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    for deployment in of_kind(manifests(), "Deployment").values():
        assert [str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"])] == user


def scrape_problems(config: Doc, docs: list[Doc]) -> list[str]:
    """Each service is a job scraping every replica of it on its health port."""
    namespace = kustomization()["namespace"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    problems = [] if sorted(jobs) == sorted(SERVICES) else [f"jobs {sorted(jobs)}"]
    for service, deployment in deployment_by_service(docs).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        port = metrics_port(container_env(docs, deployment))
        wanted = [
            {"names": [f"{name}.{namespace}.svc.cluster.local"], "type": "A", "port": port}
            for name, svc in of_kind(docs, "Service").items()
            if svc["spec"].get("clusterIP") == "None" and selects(svc["spec"]["selector"], labels)
        ]
        if jobs.get(service, {}).get("dns_sd_configs") != wanted:
            problems.append(f"scrape-config.yml: job {service} must discover {wanted}")
    return problems


def test_the_prometheus_config_scrapes_every_replica_of_every_service() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    assert scrape_problems(config, manifests()) == []
    orchestrator = next(j for j in config["scrape_configs"] if j["job_name"] == "orchestrator")
    orchestrator["dns_sd_configs"][0]["port"] = 9200
    problems = scrape_problems(config, manifests())
    assert [p.split(" must ")[0] for p in problems] == ["scrape-config.yml: job orchestrator"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_prometheus_config() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(SCRAPE)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed"
)
def test_kustomize_renders_the_same_resources_into_one_namespace() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert sorted(map(where, docs)) == sorted(map(where, manifests()))
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {kustomization()["namespace"]}
    assert schema_problems(docs) == []


# -- compose -------------------------------------------------------------------------------
def compose_schema() -> Doc:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: Doc = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return schema


def compose_problems(compose: Doc) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [
        f"compose.yaml: {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    for service in SERVICES:
        spec = compose["services"].get(service)
        if spec is None or spec.get("command", [None, None])[:2] != ["run", service]:
            problems.append(f"compose.yaml: no service {service} running `workflows run {service}`")
            continue
        environment = spec.get("environment", {})
        names = ((f"compose.yaml services.{service}", n) for n in environment)
        problems += env_problems(names)
        port = environment.get("WORKFLOWS_METRICS_PORT")
        if f":{port}/readyz" not in str(spec.get("healthcheck", {}).get("test")):
            problems.append(f"compose.yaml: {service} has no healthcheck on :{port}/readyz")
    return problems


def test_the_compose_file_is_valid_and_uses_real_settings() -> None:
    assert compose_problems(yaml.safe_load(COMPOSE.read_text())) == []


def test_compose_and_kubernetes_configure_the_same_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    in_compose = {n for s in SERVICES for n in compose[s].get("environment", {})}
    in_k8s = {name for _, name in env_names(manifests())}
    # the Kubernetes manifests set everything compose does (they add production settings)
    assert in_compose - in_k8s == set()


# -- the checks catch broken manifests -----------------------------------------------------
def deployment(docs: list[Doc], service: str) -> Doc:
    return of_kind(docs, "Deployment")[f"workflows-{service}"]


def test_a_schema_violation_is_reported_with_its_place() -> None:
    docs = copy.deepcopy(manifests())
    deployment(docs, "worker")["spec"]["replicas"] = "two"
    deployment(docs, "trigger")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"][
        "httpGet"
    ]["paht"] = "/x"
    problems = schema_problems(docs)
    assert any(p.startswith("Deployment/workflows-worker: spec.replicas:") for p in problems)
    assert any("Deployment/workflows-trigger" in p and "paht" in p for p in problems)


def test_a_missing_probe_wrong_port_and_missing_pdb_are_reported() -> None:
    docs = copy.deepcopy(manifests())
    del deployment(docs, "orchestrator")["spec"]["template"]["spec"]["containers"][0][
        "readinessProbe"
    ]
    deployment(docs, "notifier")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"][
        "httpGet"
    ]["port"] = 8000
    docs = [d for d in docs if where(d) != "PodDisruptionBudget/workflows-dispatcher"]
    assert deployment_problems(docs) == [
        "Deployment/workflows-orchestrator: no readinessProbe (httpGet /readyz)",
        "Deployment/workflows-dispatcher: 0 PodDisruptionBudgets select its pods, expected 1",
        "Deployment/workflows-notifier: livenessProbe on port 8000, the service serves 9100",
    ]


def test_too_many_replicas_and_a_short_grace_period_are_reported() -> None:
    docs = copy.deepcopy(manifests())
    of_kind(docs, "HorizontalPodAutoscaler")["workflows-worker"]["spec"]["maxReplicas"] = 50
    deployment(docs, "trigger")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    problems = deployment_problems(docs)
    assert any("workflows-worker: maxReplicas 50 > 12 partitions" in p for p in problems)
    assert any("workflows-trigger: terminationGracePeriodSeconds 10" in p for p in problems)


def test_an_unknown_variable_and_a_literal_secret_are_reported() -> None:
    docs = copy.deepcopy(manifests())
    config = of_kind(docs, "ConfigMap")["workflows-config"]["data"]
    config["WORKFLOWS_PARTITION"] = "12"
    config["WORKFLOWS_REDIS_URL"] = "redis://:hunter2@redis:6379/0"
    env = deployment(docs, "notifier")["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "WORKFLOWS_SMTP_PASSWORD", "value": "hunter2"})
    assert env_problems(env_names(docs)) == [
        "ConfigMap/workflows-config: WORKFLOWS_PARTITION is not a Settings field"
    ]
    assert secret_problems(docs) == [
        "ConfigMap/workflows-config: WORKFLOWS_REDIS_URL holds a password in a URL",
        "Deployment/workflows-notifier: WORKFLOWS_SMTP_PASSWORD is literal: use a secretKeyRef",
    ]


def test_a_broken_compose_file_is_reported() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    compose["services"]["trigger"]["ports"] = 8000
    compose["services"]["worker"]["environment"] = {"WORKFLOWS_REDIS": "redis://redis:6379/0"}
    del compose["services"]["notifier"]["healthcheck"]
    problems = compose_problems(compose)
    assert "compose.yaml: notifier has no healthcheck on :9100/readyz" in problems
    assert any(p.startswith("compose.yaml: services.trigger.ports:") for p in problems)
    assert "compose.yaml services.worker: WORKFLOWS_REDIS is not a Settings field" in problems
