"""A patched object the sandbox cannot decode is answered as the API server's patch handler
answers it: a 422 Invalid naming the field ``patch``, whose value is the patched object (the
patched JSON for a JSON or merge patch, Go's ``%+v`` of the patch for a strategic merge patch),
with the decoder's error -- ``strict decoding error: unknown field ...`` under
``fieldValidation=Strict``, or a type error whatever the validation -- and no kind or name.
With ``Warn`` (the default) the unknown fields come back as ``Warning`` headers instead. A JSON
patch's operations are decoded strictly too: a key that is not ``op``, ``path``, ``from`` or
``value`` is named (``json patch unknown field "x"``) before the object's own unknown fields.

The decoding of embedded objects writes its paths as a ``field.Path`` (a map key as
``[key]``) and reports their unknown metadata fields after the pruned fields, sorted."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml
from cloudtty_sandbox.schema import CrdSchema
from cloudtty_sandbox.schemaplan import go_json, go_json_float, go_map_text, go_quote
from cloudtty_sandbox.schemawalk import walk_prune
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "example.cloudtty.io", "v1", "things"
EMBEDDED = {
    "type": "object",
    "x-kubernetes-embedded-resource": True,
    "x-kubernetes-preserve-unknown-fields": True,
}
SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer"},
                "template": EMBEDDED,
                "byName": {"type": "object", "additionalProperties": EMBEDDED},
                "list": {"type": "array", "items": EMBEDDED},
            },
        }
    },
}
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
# ' "" is invalid: patch: Invalid value: "<patched object>": <decoder error>'
PATCH_INVALID = re.compile(r'^ "" is invalid: patch: Invalid value: (".*"): (.*)$', re.DOTALL)


def _pod(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}}


def _serve_with_thing(serve_things: Any, schema: dict[str, Any], *, status: bool = False) -> Any:
    """Serve ``Thing`` with ``schema`` and create the Thing ``t`` (``spec.size`` 1)."""
    api = serve_things(schema, status=status)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": {"size": 1},
    }
    api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    return api


@pytest.fixture
def things(serve_things: Any) -> Any:
    return _serve_with_thing(serve_things, SCHEMA)


def _stored(things: Any) -> dict[str, Any]:
    stored: dict[str, Any] = things.get_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "t"
    )
    return stored


def _patch(
    sandbox: Any, path: str, content_type: str, body: Any, query: str = ""
) -> tuple[int, Any, list[str]]:
    """PATCH ``path`` over HTTP: the status, the decoded answer and its ``Warning`` headers."""
    request = urllib.request.Request(
        f"{sandbox.url}{path}{query}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {sandbox.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                response.status,
                json.loads(response.read()),
                response.headers.get_all("Warning") or [],
            )
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get_all("Warning") or []


THING = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/t"
CONFIGMAP = "/api/v1/namespaces/default/configmaps/c"


def _invalid_patch(answer: dict[str, Any]) -> tuple[str, str]:
    """Check ``answer`` is the patch handler's 422 and return the value it shows (as Go's
    ``%q`` wrote it) and the decoder's error."""
    assert (answer["code"], answer["reason"], answer["status"]) == (422, "Invalid", "Failure")
    match = PATCH_INVALID.match(answer["message"])
    assert match is not None, answer["message"]
    shown, why = match.groups()
    # No kind, group or name: only the one cause, the field "patch".
    assert answer["details"] == {
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {shown}: {why}",
                "field": "patch",
            }
        ]
    }
    return shown, why


def _patched_json(shown: str) -> dict[str, Any]:
    """The patched object a JSON or merge patch error shows, checked to be encoded as Go
    encodes an unstructured object (compact, keys sorted)."""
    text = json.loads(shown)
    obj: dict[str, Any] = json.loads(text)
    assert text == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return obj


# ----------------------------------------------------------------------------- Strict
def test_a_strict_merge_patch_with_an_unknown_field_is_an_invalid_patch(things: Any) -> None:
    before = _stored(things)
    with pytest.raises(ApiException) as err:
        things.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "t",
            {"spec": {"extra": 2}},
            field_validation="Strict",
        )
    assert err.value.status == 422
    shown, why = _invalid_patch(json.loads(err.value.body))
    assert why == 'strict decoding error: unknown field "spec.extra"'
    assert _patched_json(shown) == {**before, "spec": {"size": 1, "extra": 2}}
    assert _stored(things) == before


def test_a_strict_json_patch_names_every_unknown_field(things: Any, sandbox: Any) -> None:
    before = _stored(things)
    ops = [
        {"op": "add", "path": "/spec/extra", "value": 2},
        {"op": "add", "path": "/metadata/color", "value": "blue"},
    ]
    status, answer, _ = _patch(sandbox, THING, JSON_PATCH, ops, "?fieldValidation=Strict")
    assert status == 422
    shown, why = _invalid_patch(answer)
    # The root metadata's unknown fields come first, as on a create.
    assert why == (
        'strict decoding error: unknown field "metadata.color", unknown field "spec.extra"'
    )
    patched = _patched_json(shown)
    assert patched["metadata"]["color"] == "blue"
    assert patched["spec"] == {"size": 1, "extra": 2}
    assert _stored(things) == before


def test_a_strict_json_patch_names_unknown_operation_keys_before_unknown_fields(
    things: Any, sandbox: Any
) -> None:
    before = _stored(things)
    ops = [
        {"op": "replace", "path": "/spec/size", "value": 2, "comment": "bigger"},
        {"op": "add", "path": "/spec/extra", "value": 3, "Value": 4},
    ]
    status, answer, _ = _patch(sandbox, THING, JSON_PATCH, ops, "?fieldValidation=Strict")
    assert status == 422
    shown, why = _invalid_patch(answer)
    assert why == (
        'strict decoding error: json patch unknown field "comment", '
        'json patch unknown field "Value", unknown field "spec.extra"'
    )
    assert _patched_json(shown)["spec"] == {"size": 2, "extra": 3}
    assert _stored(things) == before


def test_unknown_operation_keys_are_refused_before_the_object_is_validated(
    things: Any, sandbox: Any
) -> None:
    before = _stored(things)
    # A size that is not an integer fails the schema (a 422 of the Thing): the operation's
    # unknown key is found first, while the patch is decoded.
    ops = [{"op": "replace", "path": "/spec/size", "value": "two", "note": 1}]
    status, answer, _ = _patch(sandbox, THING, JSON_PATCH, ops, "?fieldValidation=Strict")
    assert status == 422
    shown, why = _invalid_patch(answer)
    assert why == 'strict decoding error: json patch unknown field "note"'
    assert _patched_json(shown)["spec"] == {"size": "two"}
    assert _stored(things) == before


def test_kubectl_patch_prints_an_unknown_operation_key_as_a_warning(
    things: Any, sandbox: Any
) -> None:
    # kubectl patch asks for no validation: the API server's default, Warn, applies.
    ops = json.dumps([{"op": "replace", "path": "/spec/size", "value": 7, "valeu": 8}])
    patched = sandbox.kubectl("patch", f"{PLURAL}.{GROUP}", "t", "--type=json", "-p", ops)
    assert patched.stderr.strip() == 'Warning: json patch unknown field "valeu"'
    assert _stored(things)["spec"] == {"size": 7}


# A patch with something unknown: its content type, its body, and the warning it earns.
WARNED = {
    "merge patch, unknown field": (
        MERGE,
        {"spec": {"extra": 2, "size": 3}},
        'unknown field \\"spec.extra\\"',
    ),
    "json patch, unknown operation key": (
        JSON_PATCH,
        [{"op": "replace", "path": "/spec/size", "value": 3, "note": "why"}],
        'json patch unknown field \\"note\\"',
    ),
}


@pytest.mark.parametrize("case", list(WARNED))
@pytest.mark.parametrize(
    ("query", "warned"),
    [("", True), ("?fieldValidation=Warn", True), ("?fieldValidation=Ignore", False)],
)
def test_patches_warn_of_unknown_fields_unless_strict_or_ignored(
    things: Any, sandbox: Any, case: str, query: str, warned: bool
) -> None:
    content_type, body, warning = WARNED[case]
    status, answer, headers = _patch(sandbox, THING, content_type, body, query)
    assert status == 200
    assert headers == ([f'299 - "{warning}"'] if warned else [])
    assert answer["spec"] == {"size": 3}


def test_a_strict_strategic_merge_patch_shows_the_patch_as_go_prints_a_map(
    sandbox: Any, raw_http: Any
) -> None:
    configmaps = f"{sandbox.url}/api/v1/namespaces/default/configmaps"
    status, _, _ = raw_http(configmaps, "POST", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    assert status == 201
    body = {"metadata": {"color": "blue"}, "data": {"k": "w"}}
    status, answer, _ = _patch(sandbox, CONFIGMAP, STRATEGIC, body, "?fieldValidation=Strict")
    assert status == 422
    assert answer["message"] == (
        ' "" is invalid: patch: Invalid value: "map[data:map[k:w] metadata:map[color:blue]]": '
        'strict decoding error: unknown field "metadata.color"'
    )
    _invalid_patch(answer)
    status, stored, _ = raw_http(f"{sandbox.url}{CONFIGMAP}")
    assert stored["data"] == {"k": "v"}


# ----------------------------------------------------------------------------- other decode errors
@pytest.mark.parametrize(
    ("patch", "why"),
    [
        (
            {"spec": {"template": {"apiVersion": "v1", "kind": 5}}},
            "spec.template.kind: Invalid value: 5: must be a string",
        ),
        (
            {"spec": {"byName": {"web": _pod(name=7)}}},
            'spec.byName[web].metadata: Invalid value: map[string]interface {}{"name":7}: json: '
            "cannot unmarshal number into Go struct field ObjectMeta.name of type string",
        ),
        (
            {"spec": {"list": [_pod(), {"kind": ["Pod"]}]}},
            'spec.list[1].kind: Invalid value: []interface {}{"Pod"}: must be a string',
        ),
        (
            {"metadata": {"labels": "a=b"}},
            "json: cannot unmarshal string into Go struct field ObjectMeta.labels of type "
            "map[string]string",
        ),
    ],
)
def test_a_patched_object_that_cannot_be_decoded_is_an_invalid_patch_whatever_the_validation(
    things: Any, sandbox: Any, patch: dict[str, Any], why: str
) -> None:
    before = _stored(things)
    for query in ("", "?fieldValidation=Strict", "?fieldValidation=Ignore"):
        status, answer, _ = _patch(sandbox, THING, MERGE, patch, query)
        assert status == 422, answer
        assert _invalid_patch(answer)[1] == why
    assert _stored(things) == before


def test_a_builtin_kind_names_a_metadata_type_error_from_the_object_root(
    sandbox: Any, raw_http: Any
) -> None:
    configmaps = f"{sandbox.url}/api/v1/namespaces/default/configmaps"
    raw_http(configmaps, "POST", {"metadata": {"name": "c"}})
    status, answer, _ = _patch(sandbox, CONFIGMAP, MERGE, {"metadata": {"uid": 1}})
    assert status == 422
    assert _invalid_patch(answer)[1] == (
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.uid of type string"
    )
    # A create keeps the 400 and the "cannot be handled" wording, with the same error.
    status, answer, _ = raw_http(
        configmaps, "POST", {"metadata": {"name": "d", "creationTimestamp": 5}}
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"
    )


# ----------------------------------------------------------------------------- kubectl
def test_kubectl_apply_prints_the_invalid_patch(things: Any, sandbox: Any) -> None:
    thing = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": "a", "namespace": "default"},
        "spec": {"size": 1},
    }
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(thing))
    thing["spec"]["extra"] = 2
    # kubectl asks for Strict unless told otherwise; an apply to an existing object patches.
    refused = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(thing), check=False)
    assert refused.returncode != 0
    printed = refused.stderr.strip()
    assert printed.startswith('The request is invalid: patch: Invalid value: "{')
    assert printed.endswith('}": strict decoding error: unknown field "spec.extra"')
    warned = sandbox.kubectl(
        "apply", "--validate=warn", "-f", "-", input=yaml.safe_dump(thing), check=False
    )
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.extra"' in warned.stderr


# ----------------------------------------------------------------------------- decoding paths
def _pruned(obj: dict[str, Any]) -> list[str]:
    """Prune through CrdSchema, checking the reference walk does the same."""
    reference = json.loads(json.dumps(obj))
    expected: list[str] = []
    walk_prune(reference, SCHEMA, "", expected, top=True)
    dropped = CrdSchema(SCHEMA, "Thing").prune(obj)
    assert dropped == expected
    assert obj == reference
    return dropped


def _thing(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": spec,
    }


def test_embedded_unknown_metadata_comes_after_pruned_fields_sorted_map_keys_bracketed() -> None:
    obj = _thing(
        list=[_pod(x=1)],
        byName={"b": {**_pod(z=3), "free": 1}, "a": _pod(y=2, ownerReferences=[{"w": 1}])},
        extra=True,
    )
    assert _pruned(obj) == [
        "spec.extra",
        "spec.byName[a].metadata.ownerReferences[0].w",
        "spec.byName[a].metadata.y",
        "spec.byName[b].metadata.z",
        "spec.list[0].metadata.x",
    ]
    assert obj["spec"]["byName"]["b"] == {**_pod(), "free": 1}


# Keys with the characters paths are written with; none names an ObjectMeta field.
_KEYS = st.text(alphabet="ab.[]-_z", min_size=1, max_size=4)
_EXTRA_META = st.dictionaries(_KEYS, st.integers(), max_size=2)


@settings(max_examples=60, deadline=None)
@given(
    by_name=st.dictionaries(_KEYS, _EXTRA_META, max_size=4),
    listed=st.lists(_EXTRA_META, max_size=3),
    unknown=st.sets(st.sampled_from(["u1", "u2", "u3"])),
)
def test_compiled_and_walked_pruning_agree_on_decoding_paths_and_their_order(
    by_name: dict[str, dict[str, int]], listed: list[dict[str, int]], unknown: set[str]
) -> None:
    spec: dict[str, Any] = {
        **dict.fromkeys(unknown, 1),
        "byName": {key: _pod(**meta) for key, meta in by_name.items()},
        "list": [_pod(**meta) for meta in listed],
    }
    dropped = _pruned(_thing(**spec))
    decoded = [f"spec.byName[{key}].metadata.{m}" for key, meta in by_name.items() for m in meta]
    decoded += [f"spec.list[{i}].metadata.{m}" for i, meta in enumerate(listed) for m in meta]
    # Pruned fields first (the API server's order there is a Go map's), then the decoding's.
    assert sorted(dropped[: len(unknown)]) == sorted(f"spec.{u}" for u in unknown)
    assert dropped[len(unknown) :] == sorted(decoded)


def test_served_strict_creates_name_embedded_metadata_fields_with_bracketed_map_keys(
    things: Any,
) -> None:
    body = _thing(byName={"web": _pod(color="blue")}, extra=1)
    body["metadata"]["name"] = "s"
    with pytest.raises(ApiException) as err:
        things.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, body, field_validation="Strict"
        )
    answer = json.loads(err.value.body)
    assert (err.value.status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"] == (
        'Thing in version "v1" cannot be handled as a Thing: strict decoding error: '
        'unknown field "spec.extra", unknown field "spec.byName[web].metadata.color"'
    )


# ----------------------------------------------------------------------------- Go's printing
@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("line\nnext\ttab", '"line\\nnext\\ttab"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("café ☕", '"café ☕"'),
        ("\u00ad\U000e0001", '"\\u00ad\\U000e0001"'),
    ],
)
def test_strings_are_quoted_as_go_quotes_them(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


@pytest.mark.parametrize(
    ("number", "written"),
    [
        (1e-07, "1e-7"),
        (-3.5e-10, "-3.5e-10"),
        (1e-100, "1e-100"),
        (1e-06, "0.000001"),
        (1.5e-05, "0.000015"),
        (0.1, "0.1"),
        (2.0, "2"),
        (-0.0, "-0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.2345678901234569e23, "1.2345678901234569e+23"),
    ],
)
def test_floats_are_written_as_go_writes_them(number: float, written: str) -> None:
    assert go_json_float(number) == written
    assert go_json({"x": [number]}) == f'{{"x":[{written}]}}'


def test_maps_are_printed_as_go_prints_them_with_plus_v() -> None:
    value = {"b": [1, "x", None], "a": {"d": True, "c": 1.5}, "e": "two words"}
    assert go_map_text(value) == "map[a:map[c:1.5 d:true] b:[1 x <nil>] e:two words]"


# ------------------------------------------------------------------ server-side apply
def test_a_strict_server_side_apply_is_refused_as_an_update_is(things: Any, sandbox: Any) -> None:
    """The sandbox's approximation of server-side apply answers an undeclared field as an
    update does (docs/sandbox.md says how a real API server differs): a 400 BadRequest naming
    it under Strict, not the patch handler's 422 of JSON and merge patches; else the field is
    dropped with a warning."""
    before = _stored(things)
    applied = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": {"size": 3, "extra": 2},
    }
    apply = "application/apply-patch+yaml"
    status, answer, _ = _patch(
        sandbox, THING, apply, applied, "?fieldManager=bench&fieldValidation=Strict"
    )
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert answer["message"].endswith('strict decoding error: unknown field "spec.extra"')
    assert _stored(things) == before

    status, answer, warnings = _patch(sandbox, THING, apply, applied, "?fieldManager=bench")
    assert status == 200
    assert answer["spec"] == {"size": 3}
    assert warnings == ['299 - "unknown field \\"spec.extra\\""']


# ------------------------------------------------------ a status the write resets
WITH_STATUS = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


@pytest.fixture
def things_with_status(serve_things: Any) -> Any:
    api = _serve_with_thing(serve_things, WITH_STATUS, status=True)
    api.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "t", {"status": {"phase": "Up"}}
    )
    return api


def test_unknown_status_fields_are_reported_though_the_main_resource_resets_the_status(
    things_with_status: Any, sandbox: Any
) -> None:
    """Written through the main resource, a status is reset to the stored one; the API
    server decodes the whole body first, so its unknown fields are reported all the same:
    refused under Strict (a create's 400, a patch's 422), a warning under Warn."""
    api = things_with_status
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Thing",
        "metadata": {"name": "u", "namespace": "default"},
        "spec": {"size": 2, "extra": 1},
        "status": {"phase": "Up", "bogus": True},
    }
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, body, field_validation="Strict"
        )
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"].endswith(
        'strict decoding error: unknown field "spec.extra", unknown field "status.bogus"'
    )

    before = _stored(api)
    status, answer, _ = _patch(
        sandbox, THING, MERGE, {"status": {"bogus": 1}}, "?fieldValidation=Strict"
    )
    assert status == 422
    assert _invalid_patch(answer)[1] == 'strict decoding error: unknown field "status.bogus"'
    assert _stored(api) == before

    status, answer, warnings = _patch(sandbox, THING, MERGE, {"status": {"bogus": 1}})
    assert status == 200
    assert warnings == ['299 - "unknown field \\"status.bogus\\""']
    assert answer["status"] == {"phase": "Up"}  # reset: the main resource keeps the status

    # A status sent back as it was read is not decoded again, and warns of nothing.
    status, _, warnings = _patch(sandbox, THING, MERGE, {"spec": {"size": 5}})
    assert (status, warnings) == (200, [])


def test_a_status_write_reports_unknown_fields_beside_the_status_it_leaves_alone(
    things_with_status: Any, sandbox: Any
) -> None:
    """Through the status subresource, everything but the status keeps its stored value; the
    API server decodes the whole body first, so unknown fields anywhere are reported, sorted
    together with the status's own."""
    api = things_with_status
    body = _stored(api)
    body["spec"]["extra"] = 1
    body["status"]["bogus"] = True
    body["junk"] = "x"
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_custom_object_status(
            GROUP, VERSION, "default", PLURAL, "t", body, field_validation="Strict"
        )
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"].endswith(
        'strict decoding error: unknown field "junk", unknown field "spec.extra", '
        'unknown field "status.bogus"'
    )

    status, answer, warnings = _patch(
        sandbox, f"{THING}/status", MERGE, {"spec": {"extra": 2}, "status": {"phase": "Down"}}
    )
    assert status == 200
    assert warnings == ['299 - "unknown field \\"spec.extra\\""']
    assert (answer["spec"], answer["status"]) == ({"size": 1}, {"phase": "Down"})

    status, answer, _ = _patch(
        sandbox, f"{THING}/status", MERGE, {"spec": {"extra": 3}}, "?fieldValidation=Strict"
    )
    assert status == 422
    assert _invalid_patch(answer)[1] == 'strict decoding error: unknown field "spec.extra"'
    assert _stored(api)["status"] == {"phase": "Down"}
