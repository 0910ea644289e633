"""The Helm chart: rendered by a real Go text/template + sprig engine, the same objects as
``cloudtty manifests``, valid for two Kubernetes versions, least-privilege RBAC, a restricted
operator pod, and a CRD that matches the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cloudtty_deploy_helmrender as helm  # loaded by tests/conftest.py
import pytest
import yaml

from cloudtty_core.cli import main
from cloudtty_core.cli.manifests import (
    DeployValues,
    build_manifests,
    chart_crd_template,
    operator_rules,
)
from cloudtty_core.crd import crd_manifest
from cloudtty_core.testing import KUBERNETES_VERSIONS, check_manifest

ROOT = Path(__file__).resolve().parents[1]
CRD_TEMPLATE = ROOT / "deploy" / "helm" / "cloudtty" / "templates" / "crd.yaml"


HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}


def normalise(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects by (kind, namespace, name), without the labels only Helm sets."""
    out = {}
    for obj in objects:
        obj = yaml.safe_load(yaml.safe_dump(obj))
        meta = obj["metadata"]
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in HELM_ONLY_LABELS}
        if labels:
            meta["labels"] = labels
        else:
            meta.pop("labels", None)
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in out, f"{key} appears twice"
        out[key] = obj
    return out


def manifests_cli(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["manifests", *args]) == 0
    return [doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc]


@pytest.fixture(scope="module")
def chart() -> list[dict[str, Any]]:
    return helm.render()


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# ------------------------------------------------------------------------------ the CRD


def test_chart_crd_template_is_generated_from_the_model():
    assert CRD_TEMPLATE.read_text(encoding="utf-8") == chart_crd_template(), (
        "the chart's CRD drifted from the model: run "
        "`cloudtty manifests --chart-crd-template > deploy/helm/cloudtty/templates/crd.yaml`"
    )


def test_rendered_crd_is_the_one_cloudtty_crd_prints(chart, capsys):
    assert main(["crd"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    rendered = one(chart, "CustomResourceDefinition")
    assert rendered["spec"] == printed["spec"] == crd_manifest()["spec"]
    assert rendered["metadata"]["name"] == printed["metadata"]["name"]
    assert rendered["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_crd_can_be_left_out_or_not_kept():
    assert not by_kind(helm.render(sets=["crds.install=false"]), "CustomResourceDefinition")
    crd = one(helm.render(sets=["crds.keep=false"]), "CustomResourceDefinition")
    assert "annotations" not in crd["metadata"]


# ------------------------------------------------------------------------------ chart == manifests


def test_chart_defaults_and_cloudtty_manifests_give_the_same_objects(chart, capsys):
    from_cli = manifests_cli(capsys)
    assert normalise(chart) == normalise(from_cli)
    assert normalise(from_cli) == normalise(build_manifests())


VALUE_CASES = [
    pytest.param(
        [
            "pool.minIdle=3",
            "pool.namespaces.team-a=5",
            "operator.nodeAddress=shells.example.com",
            "operator.clusterRole=edit",
            "plugins.blocked={cloudtty-istio,cloudtty-ingress}",
            "workerImages.webterm=registry.example.com/webterm:2",
            "worker.namespaces={default,team-b}",
        ],
        [
            "--min-idle=3",
            "--min-idle-namespace=team-a=5",
            "--node-address=shells.example.com",
            "--cluster-role=edit",
            "--block=cloudtty-istio",
            "--block=cloudtty-ingress",
            "--worker-image=webterm=registry.example.com/webterm:2",
            "--worker-namespace=default",
            "--worker-namespace=team-b",
        ],
        "cloudtty-system",
        id="pool-plugins-images",
    ),
    pytest.param(
        [
            "leaderElection.enabled=false",
            "crds.install=false",
            "image.repository=registry.example.com/op",
            "image.tag=dev",
            "replicaCount=2",
            "operator.logLevel=debug",
            "operator.metricsPort=9100",
        ],
        [
            "--no-leader-election",
            "--no-crd",
            "--image=registry.example.com/op:dev",
            "--replicas=2",
            "--log-level=debug",
            "--metrics-port=9100",
        ],
        "ops",
        id="no-election-no-crd-image",
    ),
]


@pytest.mark.parametrize(("sets", "flags", "namespace"), VALUE_CASES)
def test_chart_and_cloudtty_manifests_agree_on_other_values(sets, flags, namespace, capsys):
    rendered = helm.render(sets=sets, namespace=namespace)
    printed = manifests_cli(capsys, "--namespace", namespace, *flags)
    assert normalise(rendered) == normalise(printed)


# ------------------------------------------------------------------------------ schema


@pytest.mark.parametrize(
    "sets",
    [[], ["pool.namespaces.team-a=2", "operator.nodeAddress=10.0.0.1", "replicaCount=2"]],
    ids=["defaults", "pool-namespaces"],
)
def test_every_rendered_object_is_valid_for_two_kubernetes_versions(sets):
    assert len(KUBERNETES_VERSIONS) >= 2
    objects = helm.render(sets=sets)
    assert {o["kind"] for o in objects} >= {
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
    }
    for obj in objects:
        check_manifest(obj, versions=KUBERNETES_VERSIONS)


def test_an_invalid_object_is_caught_by_the_same_check(chart):
    deployment = yaml.safe_load(yaml.safe_dump(one(chart, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = (
        "/healthz"
    )
    with pytest.raises(AssertionError, match="pathh"):
        check_manifest(deployment, versions=KUBERNETES_VERSIONS)


# ------------------------------------------------------------------------------ RBAC


def rules_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]


def test_no_rule_uses_a_wildcard(chart):
    rules = rules_of(chart)
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            for value in rule.get(field, ()):
                assert "*" not in value, f"wildcard in {field} of {rule}"


def test_operator_may_bind_only_the_configured_cluster_role():
    for role in ("view", "cloudtty-shell"):
        objects = helm.render(sets=[f"operator.clusterRole={role}"])
        cluster_role = one(objects, "ClusterRole")
        assert cluster_role["rules"] == operator_rules(role)
        bind = [r for r in cluster_role["rules"] if "bind" in r["verbs"]]
        assert bind == [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": [role],
            }
        ]
        args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--cluster-role={role}" in args


def test_operator_cannot_escalate(chart):
    rules = one(chart, "ClusterRole")["rules"]
    granted = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    for verb in ("escalate", "impersonate", "bind"):
        unrestricted = [
            rule for rule in rules if verb in rule["verbs"] and not rule.get("resourceNames")
        ]
        assert not unrestricted, f"{verb} without resourceNames"
    # Roles are written (one per terminal pod), ClusterRoles and their bindings never.
    assert not any(
        r in ("clusterroles", "clusterrolebindings") and v != "bind" for _, r, v in granted
    )
    assert ("", "configmaps", "create") not in granted


def test_nothing_is_installed_for_terminal_pods_their_pools_are_filled_at_start():
    # Every terminal pod gets a ServiceAccount, Role and RoleBinding of its own from the
    # operator: no shared account whose token would open every session Secret.
    objects = helm.render(sets=["worker.namespaces={default,team-b}", "pool.namespaces.team-a=2"])
    assert [o for o in objects if o["metadata"].get("namespace") in ("default", "team-b")] == []
    assert not [o for o in objects if o["kind"] == "Role" and "secrets" in str(o["rules"])]
    args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    pools = [a for a in args if a.startswith("--pool-namespace=")]
    assert pools == [f"--pool-namespace={ns}" for ns in ("default", "team-a", "team-b")]


def test_leader_election_role_is_namespaced_and_optional(chart):
    role = one(chart, "Role", "cloudtty-leader-election")
    assert role["metadata"]["namespace"] == "cloudtty-system"
    assert role["rules"][0]["resources"] == ["leases"]
    off = helm.render(sets=["leaderElection.enabled=false"])
    assert not [o for o in off if "leader-election" in o["metadata"]["name"]]
    args = one(off, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" not in args


# ------------------------------------------------------------------------------ the operator pod


def test_operator_pod_meets_the_restricted_pod_security_standard(chart):
    pod = one(chart, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in pod
    assert "hostPID" not in pod
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(volumes) == {"tmp"}
    assert "emptyDir" in volumes["tmp"]


def test_probes_hit_healthz_and_readyz_on_the_metrics_port():
    objects = helm.render(sets=["operator.metricsPort=9100"])
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["port"] == 9100
    assert "--metrics-port=9100" in container["args"]


def test_operator_settings_reach_the_operator_as_arguments():
    objects = helm.render(
        sets=[
            "plugins.blocked={cloudtty-istio}",
            "plugins.strict=true",
            "pool.minIdle=4",
            "pool.namespaces.team-a=0",
            "operator.nodeAddress=203.0.113.7",
        ]
    )
    args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "run"
    for expected in (
        "--block=cloudtty-istio",
        "--strict",
        "--min-idle=4",
        "--min-idle-namespace=team-a=0",
        "--node-address=203.0.113.7",
    ):
        assert expected in args


def test_no_secret_is_passed_to_the_operator(chart):
    container = one(chart, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for env in container["env"]:
        assert "value" not in env or not env["value"], env
    assert not by_kind(chart, "Secret")


def test_chart_objects_never_carry_the_operators_own_label(chart):
    # app.kubernetes.io/managed-by=cloudtty marks what the operator made (and may delete).
    for obj in chart:
        assert obj["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "cloudtty"


def test_release_name_and_namespace_shape_the_names():
    objects = helm.render(release="shells", namespace="tools")
    deployment = one(objects, "Deployment")
    assert deployment["metadata"]["name"] == "shells-cloudtty-operator"
    assert deployment["metadata"]["namespace"] == "tools"
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "shells-cloudtty-operator", "namespace": "tools"}
    ]
    values = DeployValues(release="shells", namespace="tools")
    assert normalise(objects) == normalise(build_manifests(values))


def test_an_existing_service_account_must_be_named():
    with pytest.raises(RuntimeError, match=r"serviceAccount\.name is required"):
        helm.render(sets=["serviceAccount.create=false"])
    objects = helm.render(sets=["serviceAccount.create=false", "serviceAccount.name=ops"])
    assert not [
        o for o in by_kind(objects, "ServiceAccount") if "operator" in o["metadata"]["name"]
    ]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


# ------------------------------------------------------------------------------ cloudtty run


def parse_operator_args(objects: list[dict[str, Any]]) -> Any:
    from cloudtty_core.cli import build_parser
    from cloudtty_core.runtime.config import config_from_args

    args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run"
    return config_from_args(parsed)


def test_cloudtty_run_understands_the_default_arguments(chart):
    config = parse_operator_args(chart)
    assert config.in_cluster is True
    assert config.namespace is None  # every namespace
    assert config.leader_election is True
    assert config.effective_lease_namespace() == "cloudtty-system"
    assert config.lease_name == "cloudtty-operator"
    assert config.identity == "$(POD_NAME)"  # expanded by the kubelet from the env
    assert config.events_api == "events.k8s.io/v1"
    assert config.metrics_port == 8080
    assert config.settings.cluster_role == "view"
    assert config.settings.min_idle == 1
    assert config.effective_pool_namespaces() == ("default",)
    assert config.blocked_plugins == ()


def test_cloudtty_run_understands_every_value():
    objects = helm.render(
        sets=[
            "operator.logLevel=debug",
            "operator.metricsPort=9100",
            "operator.workers=3",
            "operator.clusterRole=edit",
            "operator.clusterServer=https://api.example.com:6443",
            "operator.nodeAddress=shells.example.com",
            "pool.minIdle=2",
            "pool.namespaces.team-a=4",
            "workerImages.webterm=registry.example.com/webterm:2",
            "plugins.blocked={cloudtty-istio}",
            "plugins.strict=true",
            "leaderElection.enabled=false",
        ]
    )
    config = parse_operator_args(objects)
    settings = config.settings
    assert (config.log_level, config.metrics_port, config.workers) == ("debug", 9100, 3)
    assert settings.cluster_role == "edit"
    assert settings.cluster_server == "https://api.example.com:6443"
    assert settings.node_address == "shells.example.com"
    assert settings.min_idle == 2
    assert dict(settings.min_idle_per_namespace) == {"team-a": 4}
    assert dict(settings.images) == {"webterm": "registry.example.com/webterm:2"}
    assert config.effective_pool_namespaces() == ("default", "team-a")
    assert config.blocked_plugins == ("cloudtty-istio",)
    assert config.strict_plugins is True
    assert config.leader_election is False
