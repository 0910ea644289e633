"""CloudShellSpec: every field CloudTTY users write, unchanged, plus what cloudtty-py adds.

Fields with a default other than None are always present in the JSON the model writes, the same
way the API server fills them from the CRD's defaults; absent optional fields stay absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core.model.fields import meta, upstream

#: Upper bound for ttl, ttlSecondsAfterStarted and idleTimeoutSeconds: one year, in seconds.
MAX_DURATION_SECONDS = 366 * 24 * 3600

#: The exposure backends CloudTTY knows; other names are accepted when a plugin provides them.
BUILTIN_EXPOSURE_MODES = ("ClusterIP", "NodePort", "Ingress", "VirtualService")

#: A pass-through Kubernetes JSON object (resources, affinity, a toleration).
JsonObject = dict[str, Any]


def none_if_empty(value: JsonObject | None) -> JsonObject | None:
    """An empty object means the same as none, and is written as none (left out): keeping
    ``{}`` would make a shell differ from itself read back."""
    return value or None


#: ``runAsUser`` as CloudTTY users write it: ``"root"``, a number as text, or a number.
RunAsUser = int | str


@attrs.frozen
class SecretRef:
    """A Secret in the shell's namespace holding a kubeconfig."""

    name: str = attrs.field(
        metadata=upstream("Name of the Secret.", rule="dns1123-subdomain", required=True)
    )
    key: str = attrs.field(
        default="config",
        metadata=meta("Key in the Secret's data holding the kubeconfig.", rule="config-key"),
    )


@attrs.frozen
class EnvVar:
    """An environment variable for the terminal container (as in a Kubernetes container)."""

    name: str = attrs.field(metadata=upstream("Variable name.", rule="env-name", required=True))
    value: str | None = attrs.field(default=None, metadata=upstream("Value."))
    value_from: JsonObject | None = attrs.field(
        default=None,
        converter=none_if_empty,
        metadata=upstream("Kubernetes EnvVarSource (passed through unchanged)."),
    )


@attrs.frozen
class IngressConfig:
    """Parameters of the Ingress that exposes the shell (exposureMode Ingress)."""

    ingress_name: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "Name of the (shared) Ingress; default `cloudshell-ingress`.", rule="dns1123-subdomain"
        ),
    )
    namespace: str | None = attrs.field(
        default=None,
        metadata=upstream("Namespace of the Ingress; default the shell's.", rule="dns1123-label"),
    )
    ingress_class_name: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "IngressClass to use when the cluster has several.", rule="dns1123-subdomain"
        ),
    )
    annotations: Mapping[str, str] = attrs.field(
        factory=dict, metadata=meta("Extra annotations on the Ingress.")
    )
    host: str | None = attrs.field(
        default=None,
        metadata=meta("Host name the rule matches (`*.` wildcards allowed).", rule="host"),
    )
    tls_secret_name: str | None = attrs.field(
        default=None,
        metadata=meta("Secret with the TLS certificate for `host`.", rule="dns1123-subdomain"),
    )


@attrs.frozen
class VirtualServiceConfig:
    """Parameters of the Istio VirtualService exposing the shell (exposureMode VirtualService)."""

    virtual_service_name: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "Name of the (shared) VirtualService; default `cloudshell-virtualService`.",
            rule="dns1123-subdomain",
        ),
    )
    namespace: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "Namespace of the VirtualService; default the shell's.", rule="dns1123-label"
        ),
    )
    gateway: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "The Istio Gateway, `name` or `namespace/name`; must exist.", rule="gateway"
        ),
    )
    export_to: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "Namespace the VirtualService is exported to (`.` same namespace, `*` all).",
            json_name="export_to",
            rule="export-to",
        ),
    )


@attrs.frozen
class AuthSecretRef:
    """A Secret holding credential material for an auth backend."""

    name: str = attrs.field(
        metadata=meta("Name of the Secret.", rule="dns1123-subdomain", required=True)
    )
    key: str | None = attrs.field(
        default=None,
        metadata=meta(
            "Key in the Secret; the auth backend's default when absent.", rule="config-key"
        ),
    )


@attrs.frozen
class AuthSpec:
    """Who may use the terminal. ``mode`` names an installed auth backend."""

    mode: str = attrs.field(
        default="none",
        metadata=meta(
            "Auth backend name, e.g. `none`, `basic`, `token`, `header`.", rule="backend-name"
        ),
    )
    secret_ref: AuthSecretRef | None = attrs.field(
        default=None, metadata=meta("Secret with the credential (e.g. basic-auth users).")
    )
    allowed_users: tuple[str, ...] = attrs.field(
        default=(), metadata=meta("Users allowed in (header mode).")
    )
    allowed_groups: tuple[str, ...] = attrs.field(
        default=(), metadata=meta("Groups allowed in (header mode).")
    )
    user_header: str | None = attrs.field(
        default=None,
        metadata=meta("Request header naming the user (header mode).", rule="http-header"),
    )
    groups_header: str | None = attrs.field(
        default=None,
        metadata=meta("Request header listing the groups (header mode).", rule="http-header"),
    )


@attrs.frozen
class CloudShellSpec:
    """What the user asks for."""

    configmap_name: str | None = attrs.field(
        default=None,
        metadata=upstream(
            "ConfigMap holding the kubeconfig (CloudTTY v0.1).", rule="dns1123-subdomain"
        ),
    )
    secret_ref: SecretRef | None = attrs.field(
        default=None, metadata=upstream("Secret holding the kubeconfig.")
    )
    command_action: str = attrs.field(
        default="bash",
        metadata=upstream(
            "Command the terminal runs, e.g. `bash` or `kubectl logs -f pod`.", rule="command"
        ),
    )
    ttl: int | None = attrs.field(
        default=None,
        metadata=upstream(
            "Lifetime in seconds (CloudTTY v0.1 name); 0 means no limit.",
            minimum=0,
            maximum=MAX_DURATION_SECONDS,
        ),
    )
    ttl_seconds_after_started: int | None = attrs.field(
        default=None,
        metadata=upstream(
            "Lifetime in seconds after the terminal started; wins over `ttl`.",
            minimum=0,
            maximum=MAX_DURATION_SECONDS,
        ),
    )
    once: bool = attrs.field(
        default=False, metadata=upstream("Accept one client only; the shell ends when it leaves.")
    )
    cleanup: bool = attrs.field(
        default=False, metadata=upstream("Delete the CloudShell itself once it is Completed.")
    )
    exposure_mode: str = attrs.field(
        default="NodePort",
        metadata=upstream(
            "Exposure backend: ClusterIP, NodePort, Ingress, VirtualService or a plugin's name.",
            rule="backend-name",
        ),
    )
    run_as_user: RunAsUser | None = attrs.field(
        default=None,
        metadata=upstream(
            "User the terminal runs as: `root` or a numeric uid.", rule="run-as-user"
        ),
    )
    path_prefix: str | None = attrs.field(
        default=None,
        metadata=upstream("Path prefix of the access URL (starts with `/`).", rule="url-path"),
    )
    path_suffix: str | None = attrs.field(
        default=None, metadata=upstream("Path suffix of the access URL.", rule="url-path-suffix")
    )
    url_arg: bool = attrs.field(
        default=False, metadata=upstream("Let clients pass command arguments in the URL (`?arg=`).")
    )
    image: str | None = attrs.field(
        default=None,
        metadata=upstream("Terminal image; the image backend's default when absent.", rule="image"),
    )
    env: tuple[EnvVar, ...] = attrs.field(
        default=(), metadata=upstream("Environment of the terminal container.", list_key="name")
    )
    ttyd_client_options: Mapping[str, str] = attrs.field(
        factory=dict, metadata=upstream("Terminal client options (ttyd `-t key=value`).")
    )
    ingress_config: IngressConfig | None = attrs.field(
        default=None, metadata=upstream("Ingress parameters (exposureMode Ingress).")
    )
    virtual_service_config: VirtualServiceConfig | None = attrs.field(
        default=None, metadata=upstream("VirtualService parameters (exposureMode VirtualService).")
    )
    auth: AuthSpec = attrs.field(
        factory=AuthSpec, metadata=meta("Authentication of terminal users.")
    )
    image_backend: str = attrs.field(
        default="webterm",
        metadata=meta(
            "Image backend: `webterm` (default), `ttyd` or a plugin's name.", rule="backend-name"
        ),
    )
    idle_timeout_seconds: int | None = attrs.field(
        default=None,
        metadata=meta(
            "End the shell after this many seconds without terminal activity.",
            minimum=1,
            maximum=MAX_DURATION_SECONDS,
        ),
    )
    read_only: bool = attrs.field(default=False, metadata=meta("Clients may watch but not type."))
    resources: JsonObject | None = attrs.field(
        default=None,
        converter=none_if_empty,
        metadata=meta("Kubernetes ResourceRequirements of the terminal container."),
    )
    node_selector: Mapping[str, str] = attrs.field(
        factory=dict, metadata=meta("Node selector of the terminal pod.")
    )
    tolerations: tuple[JsonObject, ...] = attrs.field(
        default=(), metadata=meta("Kubernetes tolerations of the terminal pod.")
    )
    affinity: JsonObject | None = attrs.field(
        default=None,
        converter=none_if_empty,
        metadata=meta("Kubernetes affinity of the terminal pod."),
    )

    def effective_ttl_seconds(self) -> int | None:
        """The shell's lifetime: ttlSecondsAfterStarted, else a non-zero ttl, else None (no limit).

        A ``ttl`` of 0 means "no limit" because CloudTTY cannot tell 0 from an absent ttl.
        """
        if self.ttl_seconds_after_started is not None:
            return self.ttl_seconds_after_started
        return self.ttl or None

    def run_as_uid(self) -> int | None:
        """``runAsUser`` as a numeric uid (``"root"`` is 0); None when unset."""
        if self.run_as_user is None:
            return None
        if isinstance(self.run_as_user, int):
            return self.run_as_user
        return 0 if self.run_as_user == "root" else int(self.run_as_user)
