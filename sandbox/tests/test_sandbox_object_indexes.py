"""The store's owner index, watchers grouped by scope, lists by exact name and the RBAC
subject index each agree with a scan of everything stored."""

from __future__ import annotations

import json
from typing import Any

from cloudtty_sandbox.auth import UserInfo
from cloudtty_sandbox.rbac import RBAC, Authorizer, Request, _rule_allows, _subject_matches
from cloudtty_sandbox.sandbox import Sandbox
from cloudtty_sandbox.selectors import parse_field_selector
from hypothesis import given, settings
from hypothesis import strategies as st

NAMESPACES = ("ns1", "ns2")
NAMES = ("a", "b", "c", "d")
UIDS = ("u1", "u2", "u3")


def _sandbox() -> Sandbox:
    """A sandbox's object layer (store, strategies, listeners), not started."""
    sb = Sandbox()
    for ns in NAMESPACES:
        sb.cluster.create(
            sb.registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": ns}}
        )
    return sb


def _configmap(name: str, owners: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": f"owner-{u}", "uid": u}
            for u in owners
        ]
    return {"metadata": meta}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMESPACES),
            st.sampled_from(NAMES),
            st.none() | st.lists(st.sampled_from(UIDS), unique=True, max_size=2),
        ),
        max_size=25,
    )
)
def test_owner_index_matches_a_scan(
    steps: list[tuple[str, str, list[str] | None]],
) -> None:
    sb = _sandbox()
    cms = sb.registry.lookup("", "v1", "configmaps")
    for ns, name, owners in steps:
        existing = sb.cluster.find("configmaps", ns, name)
        if owners is None:
            if existing is not None:
                sb.cluster.delete(cms, ns, name)
        elif existing is None:
            sb.cluster.create(cms, ns, _configmap(name, owners))
        else:
            sb.cluster.update(cms, ns, name, _configmap(name, owners))
    for uid in UIDS:
        scanned = {
            ("configmaps", o["metadata"]["namespace"], o["metadata"]["name"])
            for o in sb.store.items("configmaps", None)
            if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or ())
        }
        assert set(sb.store.dependents(uid)) == scanned
        for ns in NAMESPACES:
            assert [o["metadata"]["name"] for o in sb.store.owned(uid, "configmaps", ns)] == sorted(
                name for _, n, name in scanned if n == ns
            )


def test_each_watch_gets_exactly_the_events_of_its_scope() -> None:
    sb = _sandbox()
    cms = sb.registry.lookup("", "v1", "configmaps")
    rv = str(sb.store.rv)
    scopes = {
        "all": (None, None),
        "ns1": ("ns1", None),
        "name a": (None, "metadata.name=a"),
        "ns2/a": ("ns2", "metadata.name=a"),
        "not a": ("ns1", "metadata.name!=a"),
    }
    opened = {
        label: sb.cluster.watch(
            cms, ns, rv, None, parse_field_selector(sel, cms.field_labels, cms.kind)
        )
        for label, (ns, sel) in scopes.items()
    }
    for ns in NAMESPACES:
        for name in ("a", "b"):
            sb.cluster.create(cms, ns, {"metadata": {"name": name}})

    def received(label: str) -> list[str]:
        return [
            "{namespace}/{name}".format(**json.loads(line)["object"]["metadata"])
            for line in opened[label].take()
        ]

    assert received("all") == ["ns1/a", "ns1/b", "ns2/a", "ns2/b"]
    assert received("ns1") == ["ns1/a", "ns1/b"]
    assert received("name a") == ["ns1/a", "ns2/a"]
    assert received("ns2/a") == ["ns2/a"]
    assert received("not a") == ["ns1/b"]
    for watcher in opened.values():
        sb.cluster.stop_watch(cms, watcher)
    assert sb.store.cache("configmaps").watchers == set()
    sb.cluster.create(cms, "ns1", {"metadata": {"name": "c"}})
    assert all(not w.pending for w in opened.values())


def test_lists_by_exact_name_match_a_scan() -> None:
    sb = _sandbox()
    cms = sb.registry.lookup("", "v1", "configmaps")
    nss = sb.registry.lookup("", "v1", "namespaces")
    for ns in NAMESPACES:
        for name in ("a", "b"):
            sb.cluster.create(cms, ns, {"metadata": {"name": name, "labels": {"n": name}}})

    def names(rtype: Any, namespace: str | None, selector: str) -> list[str]:
        fields = parse_field_selector(selector, rtype.field_labels, rtype.kind)
        listing = sb.cluster.list(rtype, namespace, None, fields)
        return [
            f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
            for o in listing["items"]
        ]

    assert names(cms, None, "metadata.name=a") == ["ns1/a", "ns2/a"]
    assert names(cms, "ns2", "metadata.name=b") == ["ns2/b"]
    assert names(cms, "ns2", "metadata.name=b,metadata.namespace=ns1") == []
    assert names(cms, None, "metadata.name=zzz") == []
    assert names(nss, None, "metadata.name=ns1") == ["/ns1"]


# ------------------------------------------------------------------------------ RBAC
def _brute_force_allowed(sb: Sandbox, user: UserInfo, req: Request) -> bool:
    """The decision from a scan of every binding (what the indexed authorizer must agree with)."""
    if user.is_admin:
        return True
    store = sb.store
    pairs = [(b, "") for b in store.items(f"clusterrolebindings.{RBAC}", None)]
    if req.namespace:
        pairs += [(b, req.namespace) for b in store.items(f"rolebindings.{RBAC}", req.namespace)]
    for binding, ns in pairs:
        if not any(_subject_matches(s, user, ns) for s in binding.get("subjects") or ()):
            continue
        ref = binding["roleRef"]
        storage = f"clusterroles.{RBAC}" if ref["kind"] == "ClusterRole" else f"roles.{RBAC}"
        role = store.get(storage, "" if ref["kind"] == "ClusterRole" else ns, ref["name"])
        if any(_rule_allows(r, req) for r in (role or {}).get("rules") or ()):
            return True
    return False


subjects = st.one_of(
    st.builds(lambda n: {"kind": "User", "name": n}, st.sampled_from(("alice", "bob"))),
    st.builds(lambda n: {"kind": "Group", "name": n}, st.sampled_from(("devs", "ops"))),
    st.builds(
        lambda n, ns: {"kind": "ServiceAccount", "name": n, **({"namespace": ns} if ns else {})},
        st.sampled_from(("sa1", "sa2")),
        st.sampled_from(("ns1", "ns2", None)),
    ),
)
bindings = st.tuples(
    st.sampled_from(("ns1", "ns2", None)),  # None: a ClusterRoleBinding
    st.sampled_from(("b1", "b2", "b3")),
    st.none() | st.lists(subjects, max_size=3),  # None: delete the binding
    st.sampled_from(("reader", "writer")),
)
users = st.sampled_from(
    (
        UserInfo("alice", ("system:authenticated",)),
        UserInfo("bob", ("devs", "system:authenticated")),
        UserInfo("carol", ("ops",)),
        UserInfo("system:serviceaccount:ns1:sa1", ("system:serviceaccounts",)),
        UserInfo("system:serviceaccount:ns2:sa2", ("system:serviceaccounts",)),
    )
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(bindings, max_size=12),
    users,
    st.sampled_from(("get", "create")),
    st.sampled_from(("ns1", "ns2", "")),
)
def test_indexed_rbac_decisions_match_a_scan_of_every_binding(
    steps: list[tuple[str | None, str, list[dict[str, Any]] | None, str]],
    user: UserInfo,
    verb: str,
    namespace: str,
) -> None:
    sb = _sandbox()
    authorizer = Authorizer(sb.cluster)
    reg = sb.registry
    role_rules = {
        "reader": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        "writer": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "create"]}],
    }
    for name, rules in role_rules.items():
        sb.cluster.create(
            reg.lookup(RBAC, "v1", "clusterroles"),
            None,
            {"metadata": {"name": name}, "rules": rules},
        )
        for ns in NAMESPACES:
            sb.cluster.create(
                reg.lookup(RBAC, "v1", "roles"), ns, {"metadata": {"name": name}, "rules": rules}
            )
    for ns, name, subject_list, role in steps:
        rtype = reg.lookup(RBAC, "v1", "rolebindings" if ns else "clusterrolebindings")
        existing = sb.store.get(rtype.storage, ns or "", name)
        if subject_list is None:
            if existing is not None:
                sb.cluster.delete(rtype, ns, name)
            continue
        body = {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "Role" if ns else "ClusterRole", "name": role},
            "subjects": subject_list,
        }
        if existing is None:
            sb.cluster.create(rtype, ns, body)
        else:
            body["roleRef"] = existing["roleRef"]  # roleRef is immutable
            sb.cluster.update(rtype, ns, name, body)
    req = Request(verb, "", "pods", "", namespace, "")
    assert authorizer.allowed(user, req) == _brute_force_allowed(sb, user, req)
