"""Pure pieces: patches, selectors, printer-column JSONPath, ingress routing, schema handling."""

from __future__ import annotations

import copy

import pytest
from cloudtty_sandbox.builtin_kinds import builtin_merge_keys
from cloudtty_sandbox.errors import ApiError
from cloudtty_sandbox.jsonpath import evaluate
from cloudtty_sandbox.meta import human_duration, validate_metadata
from cloudtty_sandbox.patches import json_merge_patch, json_patch, strategic_merge_patch
from cloudtty_sandbox.routing import Backend, Rule, choose, ingress_rules, virtual_service_rules
from cloudtty_sandbox.schema import CrdSchema
from cloudtty_sandbox.selectors import parse_field_selector, parse_label_selector
from hypothesis import given
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(objects, objects)
def test_merge_patch_is_idempotent_and_does_not_mutate(target, patch):
    before = copy.deepcopy(target)
    once = json_merge_patch(target, patch)
    assert target == before
    assert json_merge_patch(once, patch) == once


@given(objects)
def test_merge_patch_with_itself_minus_nulls(target):
    assert json_merge_patch({}, target) == _drop_nulls(target)


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def test_json_patch_ops_and_failure():
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 2]}}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/spec/items/0"},
            {"op": "test", "path": "/spec/items/0", "value": 2},
        ],
    )
    assert out == {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"items": [2]}}
    with pytest.raises(ApiError) as err:
        json_patch(doc, [{"op": "test", "path": "/spec/items/0", "value": 99}])
    assert err.value.code == 422


POD = {
    "metadata": {"name": "p", "finalizers": ["a"]},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "x:1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80}],
            },
            {"name": "side", "image": "y:1"},
        ],
        "tolerations": [{"key": "k"}],
    },
}


def smp(patch):
    return strategic_merge_patch(copy.deepcopy(POD), patch, builtin_merge_keys)


def test_strategic_merge_merges_keyed_lists():
    out = smp(
        {
            "spec": {
                "containers": [
                    {"name": "app", "image": "x:2", "env": [{"name": "C", "value": "3"}]}
                ]
            }
        }
    )
    app = out["spec"]["containers"][0]
    assert app["image"] == "x:2"
    assert [e["name"] for e in app["env"]] == ["A", "B", "C"]
    assert out["spec"]["containers"][1]["name"] == "side"


def test_strategic_merge_directives():
    out = smp({"spec": {"containers": [{"name": "side", "$patch": "delete"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    out = smp(
        {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}
    )
    assert [e["name"] for e in out["spec"]["containers"][0]["env"]] == ["B"]
    out = smp({"spec": {"tolerations": [{"key": "other"}]}})  # unkeyed lists are replaced
    assert out["spec"]["tolerations"] == [{"key": "other"}]
    out = smp({"metadata": {"finalizers": ["b"]}})  # finalizers merge as a set
    assert out["metadata"]["finalizers"] == ["a", "b"]
    out = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == []
    out = smp({"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "app"]
    out = smp({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "z"}]}})
    assert out["spec"]["containers"] == [{"name": "only", "image": "z"}]
    out = smp({"spec": {"$patch": "replace", "containers": []}})
    assert out["spec"] == {"containers": []}
    out = smp({"spec": {"tolerations": None}})
    assert "tolerations" not in out["spec"]


def test_strategic_merge_service_ports_by_port():
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    out = strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 443, "nodePort": 30443}]}}, builtin_merge_keys
    )
    assert out["spec"]["ports"][1] == {"port": 443, "name": "https", "nodePort": 30443}


def test_label_selector_parsing():
    match = parse_label_selector("env in (prod, stage), tier!=db, !legacy, app")
    assert match({"env": "prod", "tier": "web", "app": "x"})
    assert not match({"env": "prod", "tier": "db", "app": "x"})
    assert not match({"env": "prod", "app": "x", "legacy": "1"})
    assert not match({"env": "dev", "app": "x"})
    assert parse_label_selector("") is None
    numeric = parse_label_selector("replicas>2")
    assert numeric({"replicas": "3"})
    assert not numeric({"replicas": "2"})
    for bad in ("a in b", "a in (b", "=x", "a b"):
        with pytest.raises(ApiError):
            parse_label_selector(bad)


def test_field_selector_parsing():
    allowed = frozenset({"metadata.name", "status.phase"})
    sel = parse_field_selector("metadata.name=a,status.phase!=Failed", allowed, "Pod")
    assert sel.exact_name() == "a"
    assert sel.matches({"metadata": {"name": "a"}, "status": {"phase": "Running"}})
    assert not sel.matches({"metadata": {"name": "a"}, "status": {"phase": "Failed"}})
    with pytest.raises(ApiError) as err:
        parse_field_selector("spec.x=1", allowed, "Pod")
    assert err.value.code == 400


def test_printer_column_jsonpath():
    obj = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Other", "status": "False"},
            ]
        },
        "spec": {"items": [{"n": 1}, {"n": 2}]},
    }
    assert evaluate('.status.conditions[?(@.type=="Ready")].status', obj) == ["True"]
    assert evaluate(".spec.items[*].n", obj) == [1, 2]
    assert evaluate(".spec.items[1].n", obj) == [2]
    assert evaluate(".spec.missing", obj) == []


def test_human_duration():
    assert human_duration(5) == "5s"
    assert human_duration(150) == "2m30s"
    assert human_duration(3600 * 5) == "5h"
    assert human_duration(86400 * 3) == "3d"


def test_metadata_validation_names_fields():
    causes = validate_metadata(
        {"name": "x", "labels": {"bad key!": "v", "ok": "-bad"}}, namespaced=True
    )
    assert {c.field for c in causes} == {"metadata.labels"}
    assert validate_metadata({"name": "a" * 254}, namespaced=True)[0].field == "metadata.name"


def _rule(host, path, exact=False, name="s"):
    return Rule(host, path, exact, Backend("ns", name, 80))


def test_routing_longest_prefix_exact_and_hosts():
    rules = [
        _rule("", "/", name="root"),
        _rule("a.localhost", "/app", name="app"),
        _rule("a.localhost", "/app/admin", name="admin"),
        _rule("a.localhost", "/app", exact=True, name="exact"),
        _rule("*.localhost", "/", name="wild"),
    ]
    assert choose(rules, "a.localhost", "/app/admin/x").backend.service == "admin"
    assert choose(rules, "a.localhost", "/app").backend.service == "exact"
    assert choose(rules, "a.localhost", "/app/x").backend.service == "app"
    assert choose(rules, "a.localhost", "/application").backend.service == "wild"
    assert choose(rules, "b.localhost", "/x").backend.service == "wild"
    assert choose(rules, "example.com", "/x").backend.service == "root"
    assert choose([_rule("a.localhost", "/p")], "b.localhost", "/p") is None


def test_ingress_and_virtual_service_rules():
    ing = {
        "metadata": {"name": "i", "namespace": "ns"},
        "spec": {
            "rules": [
                {
                    "host": "h",
                    "http": {
                        "paths": [
                            {
                                "path": "/s",
                                "pathType": "Exact",
                                "backend": {"service": {"name": "svc", "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    (rule,) = ingress_rules(ing)
    assert (rule.host, rule.path, rule.exact, rule.backend.port) == ("h", "/s", True, "http")
    vs = {
        "metadata": {"name": "v", "namespace": "ns"},
        "spec": {
            "hosts": ["shell.localhost"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/term"}}],
                    "route": [
                        {
                            "destination": {
                                "host": "svc.other.svc.cluster.local",
                                "port": {"number": 8080},
                            }
                        }
                    ],
                }
            ],
        },
    }
    (vrule,) = virtual_service_rules(vs)
    assert vrule.backend == Backend("other", "svc", 8080)
    assert (vrule.host, vrule.path) == ("shell.localhost", "/term")


def test_crd_schema_defaults_prune_and_nullable():
    schema = CrdSchema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "a": {"type": "string", "default": "x"},
                        "n": {"type": "integer", "nullable": True},
                        "port": {"x-kubernetes-int-or-string": True},
                        "nested": {
                            "type": "object",
                            "properties": {"b": {"type": "boolean", "default": False}},
                        },
                    },
                }
            },
        },
        "Thing",
    )
    obj = {
        "apiVersion": "g/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "spec": {"n": None, "port": "http", "nested": {}, "drop": 1},
    }
    schema.default(obj)
    assert schema.prune(obj) == ["spec.drop"]
    assert obj["spec"] == {"a": "x", "n": None, "port": "http", "nested": {"b": False}}
    assert schema.validate(obj) == []
    obj["spec"]["port"] = 1.5
    assert [c.field for c in schema.validate(obj)] == ["spec.port"]


label_keys = st.sampled_from(["app", "tier", "example.com/team", "env"])
label_values = st.sampled_from(["a", "b", "c-1", "x.y"])


@st.composite
def requirements(draw):
    key = draw(label_keys)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!"]))
    values = draw(st.lists(label_values, min_size=1, max_size=3, unique=True))
    return key, op, values


def _render(req) -> str:
    key, op, values = req
    if op in ("=", "==", "!="):
        return f"{key}{op}{values[0]}"
    if op in ("in", "notin"):
        return f"{key} {op} ({', '.join(values)})"
    return key if op == "exists" else f"!{key}"


def _model(req, labels) -> bool:
    key, op, values = req
    if op in ("=", "=="):
        return labels.get(key) == values[0]
    if op == "!=":
        return labels.get(key) != values[0]
    if op == "in":
        return labels.get(key) in values
    if op == "notin":
        return labels.get(key) not in values
    return (key in labels) == (op == "exists")


@given(
    st.lists(requirements(), min_size=1, max_size=4),
    st.dictionaries(label_keys, label_values, max_size=4),
)
def test_label_selectors_match_their_definition(reqs, labels):
    matcher = parse_label_selector(",".join(_render(r) for r in reqs))
    assert matcher(labels) == all(_model(r, labels) for r in reqs)
