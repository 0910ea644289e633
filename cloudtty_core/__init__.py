"""cloudtty-core: the CloudShell model, state machine, planner and plugin system.

This module is the public facade: plugins and other controllers import from here (and from
``cloudtty_core.testing``), never from submodules.
"""

from cloudtty_core.model import (
    API_VERSION,
    BUILTIN_EXPOSURE_MODES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    AuthSecretRef,
    AuthSpec,
    CloudShell,
    CloudShellSpec,
    CloudShellStatus,
    Condition,
    EnvVar,
    IngressConfig,
    InvalidShell,
    Manifest,
    ObjectMeta,
    OwnerReference,
    Problem,
    SecretRef,
    VirtualServiceConfig,
    format_time,
    parse_time,
    shell_to_dict,
    status_to_dict,
)
from cloudtty_core.phases import Event, IllegalTransition, Phase, allowed_events, transition
from cloudtty_core.validation import shell_from_dict, validate_shell

__all__ = [
    # model
    "API_VERSION",
    "BUILTIN_EXPOSURE_MODES",
    "GROUP",
    "KIND",
    "PLURAL",
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
    # phases
    "Event",
    "IllegalTransition",
    "IngressConfig",
    "InvalidShell",
    "Manifest",
    "ObjectMeta",
    "OwnerReference",
    "Phase",
    "Problem",
    "SecretRef",
    "VirtualServiceConfig",
    "allowed_events",
    "format_time",
    "parse_time",
    "shell_from_dict",
    "shell_to_dict",
    "status_to_dict",
    "transition",
    "validate_shell",
]
