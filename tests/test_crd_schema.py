"""The generated CRD: valid for Kubernetes, structural, and accepting the CloudTTY examples."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cloudtty_core import validate_shell
from cloudtty_core.crd import CRD_NAME, crd_manifest, open_api_schema
from cloudtty_core.validation import RULES

EXAMPLES = sorted((Path(__file__).parent / "data" / "examples").glob("*.yaml"))
SCHEMA = open_api_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def schema_errors(raw: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(raw)]


@pytest.mark.parametrize("version", ["1.28", "1.31", kubernetes_validate.latest_version()])
def test_crd_is_a_valid_kubernetes_object(version):
    # strict: unknown fields anywhere in the CRD object are errors too
    assert kubernetes_validate.validate(crd_manifest(), version, strict=True)


def test_crd_names_scope_and_version():
    crd = crd_manifest()
    assert crd["metadata"]["name"] == CRD_NAME == "cloudshells.cloudshell.cloudtty.io"
    spec = crd["spec"]
    assert spec["group"] == "cloudshell.cloudtty.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "CloudShell"
    assert spec["names"]["plural"] == "cloudshells"
    assert spec["names"]["shortNames"]
    assert "cs" not in spec["names"]["shortNames"]  # kubectl: componentstatuses
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns_match_cloudtty():
    (version,) = crd_manifest()["spec"]["versions"]
    columns = [(c["name"].upper(), c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("USER", ".spec.runAsUser"),
        ("COMMAND", ".spec.commandAction"),
        ("TYPE", ".spec.exposureMode"),
        ("URL", ".status.accessUrl"),
        ("PHASE", ".status.phase"),
        ("AGE", ".metadata.creationTimestamp"),
    ]
    assert version["additionalPrinterColumns"][-1]["type"] == "date"


def walk(schema: dict[str, Any], path: str = ""):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural():
    for path, node in walk(SCHEMA):
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        assert not {"anyOf", "oneOf", "allOf", "$ref"} & set(node), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []), f"{path}: list-map key {key} required"
    assert SCHEMA["properties"]["metadata"] == {"type": "object"}


def test_spec_and_status_prune_unknown_fields():
    for path, node in walk(SCHEMA):
        if path.startswith((".spec", ".status")) and node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            # Only the pass-through Kubernetes objects keep what they hold.
            assert path.split(".")[-1].rstrip("[]") in {
                "resources",
                "affinity",
                "tolerations",
                "valueFrom",
            }


def test_defaults_are_valid_against_their_own_schema():
    found = 0
    for path, node in walk(SCHEMA):
        if "default" in node:
            found += 1
            sub = {k: v for k, v in node.items() if k != "default"}
            errors = list(jsonschema.Draft7Validator(sub).iter_errors(node["default"]))
            assert not errors, path
    assert found >= 6


def test_patterns_compile_and_accept_what_validation_accepts():
    samples = {
        "dns1123-label": ["a", "team-a", "x1"],
        "dns1123-subdomain": ["my-kubeconfig", "a.b.c"],
        "host": ["example.com", "*.example.com"],
        "url-path": ["/", "/apis/cloudtty.io/"],
        "url-path-suffix": ["", "x/y", "/z"],
        "env-name": ["HOME", "my.var-1"],
        "run-as-user": ["root", "1000"],
        "backend-name": ["NodePort", "my.company-term"],
        "image": ["ghcr.io/cloudtty/cloudshell:v0.8.0"],
        "command": ["bash", "kubectl logs -f pod"],
        "config-key": ["config", ".dockerconfigjson"],
        "gateway": ["gw", "istio-system/istio-gateway"],
        "export-to": [".", "*", "istio-system"],
        "http-header": ["X-Forwarded-User"],
        "condition-type": ["Ready", "example.com/Thing"],
    }
    assert set(samples) == set(RULES)
    for name, rule in RULES.items():
        assert rule.pattern is not None, name
        pattern = re.compile(rule.pattern)
        for value in samples[name]:
            assert rule.check(value) is None, (name, value)
            assert pattern.search(value), (name, value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_schema_unchanged(path):
    raw = yaml.safe_load(path.read_text())
    assert schema_errors(raw) == []
    assert validate_shell(raw) == []


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("runAsUser", "root", True),
        ("runAsUser", 0, True),
        ("runAsUser", "1000", True),
        ("runAsUser", "bob", False),
        ("runAsUser", -1, False),
        ("ttl", -1, False),
        ("ttl", "100", False),
        ("pathPrefix", "no-slash", False),
        ("commandAction", "", False),
        ("exposureMode", "GatewayAPI", True),
        ("once", "true", False),
    ],
)
def test_schema_checks_what_it_can_express(field, value, ok):
    raw = yaml.safe_load(EXAMPLES[0].read_text())
    raw["spec"][field] = value
    assert (schema_errors(raw) == []) is ok
    assert (validate_shell(raw) == []) is ok


def test_upstream_status_phases_stay_valid():
    raw = yaml.safe_load(EXAMPLES[0].read_text())
    for phase in ("Complete", "CreatedJob", "Ready", "Completed"):
        assert schema_errors(copy.deepcopy(raw) | {"status": {"phase": phase}}) == []
