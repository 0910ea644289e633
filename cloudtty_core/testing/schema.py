"""Schema checks for the objects a backend makes: Kubernetes kinds against the API's OpenAPI
schema (through ``kubernetes-validate``, for several Kubernetes minor versions), custom
resources against their CRD's ``openAPIV3Schema``.

::

    from cloudtty_core.testing import SchemaCheckedExposureTests, load_crds

    class TestMyRoute(SchemaCheckedExposureTests):
        crds = load_crds(Path(__file__).parent / "my-route-crd.yaml")

        @pytest.fixture
        def backend(self):
            return MyRouteBackend()

Validation is strict: a field the schema does not know is an error (a typo would otherwise be
dropped silently by the API server). Object names and labels are checked too, as the API
server would. Needs the ``testing`` extra (``kubernetes-validate``, ``jsonschema``, PyYAML).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from cloudtty_core.model import Manifest
from cloudtty_core.testing.exposure import ExposureBackendTests

__all__ = [
    "KUBERNETES_VERSIONS",
    "SchemaCheckedExposureTests",
    "SchemaViolation",
    "check_manifest",
    "crd_kinds",
    "load_crds",
    "validate_custom_resource",
    "validate_kubernetes_object",
    "validate_metadata",
]


def _supported_versions() -> tuple[str, ...]:
    latest = ".".join(kubernetes_validate.latest_version().split(".")[:2])
    return tuple(dict.fromkeys(("1.28", latest)))


KUBERNETES_VERSIONS: tuple[str, ...] = _supported_versions()
"""Kubernetes minor versions objects are checked against: an older one still in wide use, and
the newest one ``kubernetes-validate`` knows."""

_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = f"{_DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class SchemaViolation(AssertionError):
    """An object does not match its schema; the message names the object, the field path and
    the Kubernetes version or CRD it was checked against."""


def _describe(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{manifest.get('kind', 'object')} {where}{meta.get('name') or meta.get('generateName')}"


def _path(error: jsonschema.ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _raise_first(
    validator: Any, instance: Mapping[str, Any], against: str, manifest: Mapping[str, Any]
) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(f"{_path(e)}: {e.message}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise SchemaViolation(f"{_describe(manifest)} is invalid for {against}: {shown}{more}")


# --------------------------------------------------------------------------------------------
# Kubernetes kinds
# --------------------------------------------------------------------------------------------


def _schema_dir(version: str, strict: bool) -> str:
    wanted = tuple(int(p) for p in version.split(".")[:2])
    known = [
        v for v in kv_utils.all_versions() if tuple(int(p) for p in v.split(".")[:2]) <= wanted
    ]
    if not known:
        raise ValueError(f"kubernetes-validate has no schema for Kubernetes {version}")
    return f"kubernetes-json-schema/v{known[-1]}-local{'-strict' if strict else ''}"


@functools.cache
def _registry(version: str, strict: bool) -> Registry[Any]:
    definitions = kv_utils.schema_contents(
        f"{_schema_dir(version, strict)}/_definitions.json", version
    )
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _kubernetes_validator(api_version: str, kind: str, version: str, strict: bool) -> Any:
    # File names as kubernetes-validate lays them out: <kind>-<group prefix>-<version>.json
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = f"{_schema_dir(version, strict)}/{kind.lower()}-{group_version}.json"
    try:
        schema = kv_utils.schema_contents(path, version)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ _registry(version, strict)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_kubernetes_object(
    manifest: Mapping[str, Any],
    versions: Sequence[str] = KUBERNETES_VERSIONS,
    *,
    strict: bool = True,
) -> None:
    """Check a built-in kind against the Kubernetes OpenAPI schema of each of ``versions``.

    :raises SchemaViolation: the object is invalid (or its kind is unknown) for a version.
    """
    for version in versions:
        validator = _kubernetes_validator(
            str(manifest.get("apiVersion")), str(manifest.get("kind")), version, strict
        )
        if validator is None:
            raise SchemaViolation(
                f"{_describe(manifest)}: Kubernetes {version} has no kind "
                f"{manifest.get('kind')} in {manifest.get('apiVersion')}"
            )
        _raise_first(validator, manifest, f"Kubernetes {version}", manifest)


# --------------------------------------------------------------------------------------------
# Custom resources
# --------------------------------------------------------------------------------------------


def load_crds(*sources: Path | str) -> tuple[Manifest, ...]:
    """The CustomResourceDefinitions in YAML files (paths) or YAML text."""
    crds: list[Manifest] = []
    for source in sources:
        text = source.read_text() if isinstance(source, Path) else source
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            if document.get("kind") != "CustomResourceDefinition":
                raise ValueError(
                    f"{source}: not a CustomResourceDefinition: {document.get('kind')}"
                )
            crds.append(document)
    return tuple(crds)


def crd_kinds(crds: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """``(apiVersion, kind) -> openAPIV3Schema`` of every served version of ``crds``."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or ():
            if not version.get("served", True):
                continue
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            found[(f"{group}/{version['name']}", str(kind))] = schema
    return found


def _structural(schema: Any) -> Any:
    # OpenAPI v3 as CRDs use it, made a JSON schema: `nullable: true` allows null, and a
    # `x-kubernetes-int-or-string` field takes both. Other x- keys are ignored by jsonschema.
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _structural(v) for k, v in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def validate_custom_resource(
    manifest: Mapping[str, Any], crds: Iterable[Mapping[str, Any]], *, strict: bool = True
) -> None:
    """Check a custom resource against the ``openAPIV3Schema`` of its CRD among ``crds``.

    With ``strict``, fields the schema does not declare are errors (the API server would prune
    them), except below ``x-kubernetes-preserve-unknown-fields``. ``metadata`` is checked
    against the Kubernetes ObjectMeta schema.

    :raises SchemaViolation: the object is invalid, or no CRD among ``crds`` serves its kind.
    """
    key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
    schema = crd_kinds(crds).get(key)
    if schema is None:
        raise SchemaViolation(f"{_describe(manifest)}: no CRD given serves {key[1]} in {key[0]}")
    root = dict(_closed(schema) if strict else schema)
    # apiVersion and kind are always allowed at the root, declared or not.
    root["properties"] = {"apiVersion": {}, "kind": {}, **(root.get("properties") or {})}
    checked = _structural(root)
    body = {k: v for k, v in manifest.items() if k != "metadata"}
    _raise_first(jsonschema.Draft202012Validator(checked), body, f"its CRD {key}", manifest)
    validate_metadata(manifest)


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever it lists properties and allows
    nothing else (structural pruning made visible)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


# --------------------------------------------------------------------------------------------
# Names and labels (checked by the API server, not by the OpenAPI schema)
# --------------------------------------------------------------------------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names must be DNS-1035 labels (they become DNS names or environment variables).
_DNS1035_KINDS = frozenset({"Service"})


def _qualified_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return f"key {key!r}: prefix must be a DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return f"key {key!r}: name part must be at most 63 alphanumerics, '-', '_' or '.'"
    return None


def validate_metadata(
    manifest: Mapping[str, Any], versions: Sequence[str] = (KUBERNETES_VERSIONS[-1],)
) -> None:
    """Check ``metadata`` against ObjectMeta and the API server's rules for names and labels.

    :raises SchemaViolation: naming the field and the rule.
    """
    meta = manifest.get("metadata")
    if not isinstance(meta, Mapping):
        raise SchemaViolation(f"{_describe(manifest)}: metadata must be an object")
    for version in versions:
        validator = jsonschema.Draft202012Validator(
            {"$ref": _OBJECT_META}, registry=_registry(version, True)
        )
        _raise_first(validator, meta, f"ObjectMeta of Kubernetes {version}", manifest)
    problems: list[str] = []
    name = meta.get("name")
    if name is not None:
        if manifest.get("kind") in _DNS1035_KINDS:
            if len(name) > 63 or not _DNS1035_LABEL.match(name):
                problems.append(f"metadata.name {name!r}: must be a DNS-1035 label")
        elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
            problems.append(f"metadata.name {name!r}: must be a DNS-1123 subdomain")
    elif not meta.get("generateName"):
        problems.append("metadata.name: required (or generateName)")
    namespace = meta.get("namespace")
    if namespace is not None and (len(namespace) > 63 or not _DNS1123_LABEL.match(namespace)):
        problems.append(f"metadata.namespace {namespace!r}: must be a DNS-1123 label")
    for key, value in (meta.get("labels") or {}).items():
        problem = _qualified_key_problem(key)
        if problem:
            problems.append(f"metadata.labels {problem}")
        if len(str(value)) > 63 or not _LABEL_VALUE.match(str(value)):
            problems.append(f"metadata.labels[{key!r}]: value {value!r} is not a valid label value")
    for key in meta.get("annotations") or {}:
        problem = _qualified_key_problem(key)
        if problem:
            problems.append(f"metadata.annotations {problem}")
    if problems:
        raise SchemaViolation(f"{_describe(manifest)}: " + "; ".join(problems))


def check_manifest(
    manifest: Mapping[str, Any],
    crds: Iterable[Mapping[str, Any]] = (),
    versions: Sequence[str] = KUBERNETES_VERSIONS,
) -> None:
    """Check any object: a kind of ``crds`` against its CRD, anything else against Kubernetes;
    names and labels always.

    :raises SchemaViolation: the first problem found.
    """
    crds = tuple(crds)
    key = (str(manifest.get("apiVersion")), str(manifest.get("kind")))
    if key in crd_kinds(crds):
        validate_custom_resource(manifest, crds)
    else:
        validate_kubernetes_object(manifest, versions)
        validate_metadata(manifest, versions[-1:])


class SchemaCheckedExposureTests(ExposureBackendTests):
    """:class:`ExposureBackendTests` whose every object is schema-checked (see
    :func:`check_manifest`): set ``crds`` for custom kinds the backend makes and
    ``kubernetes_versions`` to check against other versions."""

    crds: tuple[Manifest, ...] = ()
    kubernetes_versions: tuple[str, ...] = KUBERNETES_VERSIONS

    def check_object(self, manifest: Manifest) -> None:
        """The base checks, then the schema of the object's kind."""
        super().check_object(manifest)
        check_manifest(manifest, self.crds, self.kubernetes_versions)
