"""deploy/k8s renders (base and the production overlay), every manifest is valid against the
Kubernetes API's own schemas (kubernetes-validate, strict: an unknown field is an error), and
what the manifests promise holds: probes on our real health routes, the port our config
listens on, a non-root read-only container, secrets by reference, and a config that loads."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml  # type: ignore[import-untyped]
from aiohttp import web

from app.ops import http
from app.ops.config import load
from app.settings import MetricsSettings
from tests.fixtures.kustomize import Manifest, key, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
# the oldest and newest Kubernetes releases whose schemas the pinned package bundles
VERSIONS = ("1.30.0", "1.37.0")


def by_kind(manifests: list[Manifest]) -> dict[str, Manifest]:
    kinds = [m["kind"] for m in manifests]
    assert len(kinds) == len(set(kinds)), kinds
    return {m["kind"]: m for m in manifests}


def pod(manifests: list[Manifest]) -> dict[str, Any]:
    return dict(by_kind(manifests)["Deployment"]["spec"]["template"]["spec"])


def container(manifests: list[Manifest]) -> dict[str, Any]:
    (main,) = [c for c in pod(manifests)["containers"] if c["name"] == "agentmem"]
    return dict(main)


def config_of(manifests: list[Manifest], tmp_path: Path) -> Path:
    path = tmp_path / "agentmem.toml"
    path.write_text(by_kind(manifests)["ConfigMap"]["data"]["agentmem.toml"])
    return path


@pytest.fixture(scope="module", params=["base", "production"])
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(BASE if request.param == "base" else PRODUCTION)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(rendered: list[Manifest], version: str) -> None:
    assert {m["kind"] for m in rendered} >= {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                                             "PodDisruptionBudget"}
    for manifest in rendered:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_a_misspelt_field_is_rejected_by_the_same_validator(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": [str(BASE)], "patches": [{"path": "typo.yaml"}]}))
    (overlay / "typo.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "agentmem"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "agentmem", "livenesProbe": {"httpGet": {"path": "/health/live", "port": "http"}}}]}}},
    }))
    deployment = by_kind(render(overlay))["Deployment"]
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: nothing to compare with")
@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_our_rendering_matches_kubectl_kustomize(directory: Path) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    theirs = {key(m): m for m in yaml.safe_load_all(out) if m}
    assert {key(m): m for m in render(directory)} == theirs


def test_the_probes_use_routes_the_service_serves_on_the_port_it_listens_on(
    rendered: list[Manifest], tmp_path: Path
) -> None:
    app = web.Application()
    http.add_routes(app, MetricsSettings())
    served = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    main = container(rendered)
    probes = {name: main[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/health/live"  # never restart a pod for a store outage
    assert {p["path"] for p in probes.values()} <= served
    (port,) = main["ports"]
    assert {p["port"] for p in probes.values()} == {port["name"]}
    settings = load(config_of(rendered, tmp_path))
    assert port["containerPort"] == settings.port and settings.host == "0.0.0.0"
    service = by_kind(rendered)["Service"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"].items() <= pod_labels(rendered).items()


def pod_labels(manifests: list[Manifest]) -> dict[str, str]:
    return dict(by_kind(manifests)["Deployment"]["spec"]["template"]["metadata"]["labels"])


def test_the_container_runs_as_non_root_on_a_read_only_root(rendered: list[Manifest], tmp_path: Path) -> None:
    spec = pod(rendered)
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    volumes = {v["name"] for v in spec["volumes"]}
    for each in spec["containers"] + spec.get("initContainers", []):
        assert each["securityContext"]["readOnlyRootFilesystem"] is True
        assert each["securityContext"]["allowPrivilegeEscalation"] is False
        assert {m["name"] for m in each["volumeMounts"]} <= volumes
        assert "memory" in each["resources"]["limits"]
    mounts = {m["mountPath"]: m for m in container(rendered)["volumeMounts"]}
    data_dir = str(load(config_of(rendered, tmp_path)).data_dir)
    assert data_dir in mounts and not mounts[data_dir].get("readOnly")  # the one place it writes
    assert "/tmp" in mounts


def test_secrets_are_referenced_never_written(rendered: list[Manifest]) -> None:
    spec = pod(rendered)
    for each in spec["containers"] + spec.get("initContainers", []):
        for var in each.get("env", []):
            if any(word in var["name"] for word in ("SECRET", "PEPPER", "PASSWORD", "API_KEY", "DATABASE_URL",
                                                    "REDIS_URL")):
                assert "value" not in var and var["valueFrom"]["secretKeyRef"]["name"] == "agentmem-secrets"
    assert "Secret" not in {m["kind"] for m in rendered}


def test_the_base_is_one_pod_on_a_volume_and_production_scales_on_shared_stores(tmp_path: Path) -> None:
    base, production = render(BASE), render(PRODUCTION)
    assert by_kind(base)["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 1
    assert by_kind(base)["Deployment"]["spec"]["strategy"]["type"] == "Recreate"
    assert "PersistentVolumeClaim" in by_kind(base)

    assert "PersistentVolumeClaim" not in by_kind(production)
    (data,) = [v for v in pod(production)["volumes"] if v["name"] == "data"]
    assert set(data) == {"name", "emptyDir"}  # the claim is gone, not left beside the emptyDir
    hpa = by_kind(production)["HorizontalPodAutoscaler"]["spec"]
    pdb = by_kind(production)["PodDisruptionBudget"]["spec"]
    assert hpa["minReplicas"] >= 3 and pdb["minAvailable"] < hpa["minReplicas"] and "maxUnavailable" not in pdb
    env = {v["name"]: v for v in container(production)["env"]}
    assert {"AGENTMEM_DATABASE_URL", "AGENTMEM_REDIS_URL", "AGENTMEM_GRAPH__PASSWORD"} <= env.keys()
    assert env["AGENTMEM_AUTH__TOKEN_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is False
    settings = load(config_of(production, tmp_path))
    assert settings.graph.uri == "bolt://neo4j:7687" and settings.auto_migrate is False
    assert pod(production)["initContainers"][0]["args"] == ["migrate", "upgrade"]
    base_limit = container(base)["resources"]["requests"]["cpu"]
    assert container(production)["resources"]["requests"]["cpu"] == "1" and base_limit == "250m"
    assert container(production)["image"].startswith("registry.example.com/agentmem:")
