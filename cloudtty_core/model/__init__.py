"""The CloudShell model: frozen attrs classes, snake_case in Python, camelCase in JSON."""

from cloudtty_core.model.convert import (
    Manifest,
    converter,
    format_time,
    parse_time,
    shell_to_dict,
    status_to_dict,
    structure_shell,
)
from cloudtty_core.model.fields import FieldSpec, field_spec, json_fields, json_name
from cloudtty_core.model.objectmeta import SERVER_MANAGED_METADATA, ObjectMeta, OwnerReference
from cloudtty_core.model.problems import InvalidShell, Problem
from cloudtty_core.model.shell import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CloudShell,
)
from cloudtty_core.model.spec import (
    BUILTIN_EXPOSURE_MODES,
    MAX_DURATION_SECONDS,
    AuthSecretRef,
    AuthSpec,
    CloudShellSpec,
    EnvVar,
    IngressConfig,
    JsonObject,
    RunAsUser,
    SecretRef,
    VirtualServiceConfig,
)
from cloudtty_core.model.status import CONDITION_STATUSES, CloudShellStatus, Condition

__all__ = [
    "API_VERSION",
    "BUILTIN_EXPOSURE_MODES",
    "CONDITION_STATUSES",
    "GROUP",
    "KIND",
    "MAX_DURATION_SECONDS",
    "PLURAL",
    "SERVER_MANAGED_METADATA",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "AuthSecretRef",
    "AuthSpec",
    "CloudShell",
    "CloudShellSpec",
    "CloudShellStatus",
    "Condition",
    "EnvVar",
    "FieldSpec",
    "IngressConfig",
    "InvalidShell",
    "JsonObject",
    "Manifest",
    "ObjectMeta",
    "OwnerReference",
    "Problem",
    "RunAsUser",
    "SecretRef",
    "VirtualServiceConfig",
    "converter",
    "field_spec",
    "format_time",
    "json_fields",
    "json_name",
    "parse_time",
    "shell_to_dict",
    "status_to_dict",
    "structure_shell",
]
