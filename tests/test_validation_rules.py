"""validate_shell reports every problem, each with the path of its field."""

from __future__ import annotations

import copy

import pytest

from cloudtty_core import Problem, validate_shell
from cloudtty_core.validation import RULES

BASE = {
    "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
    "kind": "CloudShell",
    "metadata": {"name": "demo", "namespace": "team-a"},
    "spec": {"configmapName": "my-kubeconfig"},
}


def with_spec(**spec: object) -> dict:
    raw = copy.deepcopy(BASE)
    raw["spec"].update(spec)
    return raw


def messages(raw: object) -> dict[str, str]:
    return {p.path: p.message for p in validate_shell(raw)}


def test_a_minimal_shell_is_valid():
    assert validate_shell(BASE) == []


def test_a_shell_without_spec_is_valid():
    assert validate_shell({k: v for k, v in BASE.items() if k != "spec"}) == []


def test_every_problem_is_reported_not_only_the_first():
    raw = with_spec(
        ttl=-1,
        runAsUser="nobody",
        pathPrefix="no-slash",
        exposureMode="",
        env=[{"value": "x"}],
        ingressConfig={"host": "bad host", "annotations": {"a": 1}},
        surprise=True,
    )
    raw["metadata"]["name"] = "Upper"
    assert set(messages(raw)) == {
        "metadata.name",
        "spec.ttl",
        "spec.runAsUser",
        "spec.pathPrefix",
        "spec.exposureMode",
        "spec.env[0].name",
        "spec.ingressConfig.host",
        "spec.ingressConfig.annotations.a",
        "spec.surprise",
    }


def test_unknown_fields_are_reported_at_every_level():
    raw = with_spec(virtualServiceConfig={"gateway": "gw", "exportTo": "x"}, auth={"modes": "x"})
    raw["extra"] = 1
    raw["metadata"]["colour"] = "red"
    raw["status"] = {"phase": "Ready", "tokens": "secret"}
    problems = messages(raw)
    for path in (
        "extra",
        "metadata.colour",
        "spec.virtualServiceConfig.exportTo",
        "spec.auth.modes",
        "status.tokens",
    ):
        assert problems[path] == "unknown field"


def test_server_managed_metadata_is_not_reported():
    raw = copy.deepcopy(BASE)
    raw["metadata"] |= {"managedFields": [], "selfLink": "/x", "deletionGracePeriodSeconds": 0}
    assert validate_shell(raw) == []


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ([], "", "must be an object, not a list"),
        ("text", "", "must be an object, not a string"),
        ({**BASE, "apiVersion": "v1"}, "apiVersion", "must be 'cloudshell.cloudtty.io/v1alpha1'"),
        ({**BASE, "kind": "Pod"}, "kind", "must be 'CloudShell', not 'Pod'"),
        ({k: v for k, v in BASE.items() if k != "metadata"}, "metadata", "required"),
        ({**BASE, "metadata": {"namespace": "x"}}, "metadata.name", "required"),
        ({**BASE, "metadata": []}, "metadata", "must be an object"),
        ({**BASE, "spec": "bash"}, "spec", "must be an object, not a string"),
    ],
)
def test_shape_problems(raw, path, message):
    problems = messages(raw)
    assert message in problems[path]


def test_generate_name_stands_in_for_name():
    raw = {**BASE, "metadata": {"generateName": "shell-"}}
    assert validate_shell(raw) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ttl", "100", "must be an integer, not a string"),
        ("ttl", True, "must be an integer, not a boolean"),
        ("ttl", 1.5, "must be an integer, not a number"),
        ("ttl", -1, "must be at least 0"),
        ("ttl", 10**9, "must be at most 31622400"),
        ("idleTimeoutSeconds", 0, "must be at least 1"),
        ("once", "yes", "must be a boolean, not a string"),
        ("commandAction", "", "must not be empty"),
        ("commandAction", None, "must be a string, not null"),
        ("env", {"A": "1"}, "must be a list, not an object"),
        ("ttydClientOptions", {"fontSize": 14}, None),
        ("nodeSelector", ["a"], "must be an object, not a list"),
        ("resources", "1Gi", "must be an object, not a string"),
        ("tolerations", [1], "must be an object, not an integer"),
        ("image", "my image", "must be a container image reference without spaces"),
        ("exposureMode", "Node Port", "must be a backend name"),
        ("imageBackend", "-x", "must be a backend name"),
    ],
)
def test_field_types_and_ranges(field, value, message):
    problems = validate_shell(with_spec(**{field: value}))
    assert len(problems) == 1, problems
    assert problems[0].path.startswith(f"spec.{field}")
    if message:
        assert message in problems[0].message


def test_backend_names_are_free_but_must_be_names():
    raw = with_spec(exposureMode="GatewayAPI", imageBackend="my.company-term", auth={"mode": "sso"})
    assert validate_shell(raw) == []


@pytest.mark.parametrize("value", ["root", "0", "1000", 0, 65534, "2147483647"])
def test_run_as_user_forms_accepted(value):
    assert validate_shell(with_spec(runAsUser=value)) == []


@pytest.mark.parametrize("value", ["admin", "-1", "1e3", -1, 2**31, "2147483648", True, 1.0, ""])
def test_run_as_user_forms_rejected(value):
    assert list(messages(with_spec(runAsUser=value))) == ["spec.runAsUser"]


@pytest.mark.parametrize(
    "host", ["example.com", "a.b-c.example.com", "*.example.com", "localhost", "x1"]
)
def test_hosts_accepted(host):
    assert validate_shell(with_spec(ingressConfig={"host": host})) == []


@pytest.mark.parametrize(
    "host",
    ["Example.com", "*.", "*", "a.*.com", "-a.com", "a..b", "a_b.com", "10.0.0.1", "a" * 64 + ".x"],
)
def test_hosts_rejected(host):
    assert list(messages(with_spec(ingressConfig={"host": host}))) == ["spec.ingressConfig.host"]


@pytest.mark.parametrize("prefix", ["/", "/apis/cloudtty.io/", "/a/b.c/d~e", "/x..y/"])
def test_path_prefixes_accepted(prefix):
    assert validate_shell(with_spec(pathPrefix=prefix)) == []


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("apis/", "must start with '/'"),
        ("/a/../b", "'..'"),
        ("/..", "'..'"),
        ("/a\nb", "control characters"),
        ("/a\x00", "control characters"),
        ("/a b", "spaces"),
        ("/a?x=1", "'?'"),
        ("/" + "a" * 1100, "1024"),
    ],
)
def test_path_prefixes_rejected(prefix, message):
    assert message in messages(with_spec(pathPrefix=prefix))["spec.pathPrefix"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("HOME", True),
        ("_x", True),
        ("my.var-1", True),
        ("1ABC", False),
        ("A=B", False),
        ("", False),
    ],
)
def test_env_names(name, ok):
    problems = messages(with_spec(env=[{"name": name, "value": "v"}]))
    assert ("spec.env[0].name" not in problems) is ok


def test_duplicate_env_names_are_reported_on_the_second():
    raw = with_spec(env=[{"name": "A"}, {"name": "B"}, {"name": "A", "value": "2"}])
    assert messages(raw) == {"spec.env[2].name": "duplicate name 'A'"}


@pytest.mark.parametrize(
    ("gateway", "ok"),
    [("gw", True), ("istio-system/istio-gateway", True), ("a/b/c", False), ("GW", False)],
)
def test_gateways(gateway, ok):
    problems = messages(with_spec(virtualServiceConfig={"gateway": gateway}))
    assert (problems == {}) is ok


@pytest.mark.parametrize(
    ("export_to", "ok"), [(".", True), ("*", True), ("ns", True), ("a b", False)]
)
def test_export_to(export_to, ok):
    problems = messages(with_spec(virtualServiceConfig={"export_to": export_to}))
    assert (problems == {}) is ok


def test_kubeconfig_from_configmap_and_secret_at_once_is_ambiguous():
    raw = with_spec(secretRef={"name": "kc"})
    assert messages(raw) == {"spec": "set either configmapName or secretRef, not both"}


def test_secret_ref_needs_a_name():
    raw = copy.deepcopy(BASE)
    raw["spec"] = {"secretRef": {"key": "kubeconfig"}}
    assert messages(raw) == {"spec.secretRef.name": "required"}


def test_auth_settings_are_checked():
    raw = with_spec(
        auth={
            "mode": "header",
            "userHeader": "X-Forwarded-User",
            "groupsHeader": "bad header",
            "allowedUsers": ["alice", 3],
            "secretRef": {"name": "creds", "key": "users"},
        }
    )
    assert set(messages(raw)) == {"spec.auth.groupsHeader", "spec.auth.allowedUsers[1]"}


def test_status_is_checked_too():
    raw = copy.deepcopy(BASE)
    raw["status"] = {
        "phase": "Running",
        "lastScheduleTime": "yesterday",
        "conditions": [{"type": "Ready", "status": "Maybe"}, {"type": "Ready", "status": "True"}],
        "observedGeneration": -1,
    }
    assert set(messages(raw)) == {
        "status.phase",
        "status.lastScheduleTime",
        "status.conditions[0].status",
        "status.conditions[1].type",
        "status.observedGeneration",
    }


def test_upstream_phase_spellings_are_valid_status():
    for phase in ("Complete", "CreatedJob", "CreatedRouteRule", "Failed"):
        raw = copy.deepcopy(BASE) | {"status": {"phase": phase}}
        assert validate_shell(raw) == []


def test_null_optional_fields_count_as_absent():
    assert validate_shell(with_spec(image=None, ingressConfig=None, ttl=None)) == []


def test_problem_text_is_path_colon_message():
    assert str(Problem("spec.ttl", "must be at least 0")) == "spec.ttl: must be at least 0"
    assert str(Problem("", "must be an object")) == "must be an object"


def test_every_rule_has_a_description_and_rejects_something():
    for rule in RULES.values():
        assert rule.description
        assert rule.check("") is not None or rule.name == "url-path-suffix", rule.name
        assert rule.check("a b\x00") is not None, rule.name
