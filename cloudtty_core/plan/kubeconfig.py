"""Where a shell's kubeconfig comes from.

* ``spec.secretRef`` -- a Secret in the shell's namespace (key ``config`` by default);
* ``spec.configmapName`` -- a ConfigMap, key ``config`` (CloudTTY v0.1);
* neither -- a per-shell ServiceAccount bound (RoleBinding, the shell's namespace) to the
  ClusterRole from the operator settings; the runtime turns a TokenRequest for it into a
  kubeconfig Secret the shell owns. Never the operator's own credentials.

A referenced object that is missing makes the shell wait with a condition naming it; it goes
on as soon as the object appears.
"""

from __future__ import annotations

import attrs

from cloudtty_core.backends import (
    ClusterView,
    KubeconfigSource,
    OperatorSettings,
    Waiting,
    decode_secret_value,
)
from cloudtty_core.model import CloudShell, Manifest

from .names import ShellIdentity, kubeconfig_secret_name, service_account_name
from .types import KubeconfigIssue

__all__ = ["KubeconfigOutcome", "resolve_kubeconfig"]

MIN_TOKEN_SECONDS = 600  # the TokenRequest API's minimum expirationSeconds


@attrs.frozen
class KubeconfigOutcome:
    """The kubeconfig of a shell, or why it is not there yet.

    ``text`` is secret: it only ever goes into a session Secret.
    """

    source: KubeconfigSource
    text: str | None = attrs.field(default=None, repr=False)
    wanted: tuple[Manifest, ...] = ()
    issue: KubeconfigIssue | None = None
    waiting: Waiting | None = None
    secret_name: str | None = None


def resolve_kubeconfig(
    shell: CloudShell,
    ident: ShellIdentity,
    cluster: ClusterView,
    settings: OperatorSettings,
) -> KubeconfigOutcome:
    """The kubeconfig source of ``shell`` and what must exist for it."""
    spec = shell.spec
    ns = ident.namespace
    if spec.secret_ref is not None:
        source = KubeconfigSource("Secret", ns, spec.secret_ref.name, spec.secret_ref.key)
        found = cluster.get("v1", "Secret", ns, source.name)
        text = decode_secret_value(found, source.key) if found is not None else None
        return KubeconfigOutcome(
            source, text, waiting=_missing(source, found), secret_name=source.name
        )
    if spec.configmap_name is not None:
        source = KubeconfigSource("ConfigMap", ns, spec.configmap_name, "config")
        found = cluster.get("v1", "ConfigMap", ns, source.name)
        value = ((found or {}).get("data") or {}).get(source.key)
        text = str(value) if value is not None else None
        return KubeconfigOutcome(source, text, waiting=_missing(source, found))
    return _generated(shell, ident, cluster, settings)


def _missing(source: KubeconfigSource, found: Manifest | None) -> Waiting | None:
    if found is None:
        return Waiting(
            "KubeconfigNotFound",
            f"{source.kind} {source.namespace}/{source.name} (kubeconfig) does not exist",
        )
    holder = found.get("data") or {}
    holder = {**holder, **(found.get("stringData") or {})}
    if source.key not in holder:
        return Waiting(
            "KubeconfigNotFound",
            f"{source.kind} {source.namespace}/{source.name} has no key {source.key!r} "
            f"(kubeconfig)",
        )
    return None


def _generated(
    shell: CloudShell, ident: ShellIdentity, cluster: ClusterView, settings: OperatorSettings
) -> KubeconfigOutcome:
    ns = ident.namespace
    account = service_account_name(ident.name)
    secret = kubeconfig_secret_name(ident.name)
    labels = ident.labels()
    owner = ident.owner_reference()
    wanted: tuple[Manifest, ...] = (
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": ns},
            # The terminal gets its credentials from the generated kubeconfig only.
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": settings.cluster_role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
        },
    )
    source = KubeconfigSource("Secret", ns, secret, "config")
    found = cluster.get("v1", "Secret", ns, secret)
    text = decode_secret_value(found, "config") if found is not None else None
    if text is not None:
        return KubeconfigOutcome(source, text, wanted=wanted, secret_name=secret)
    ttl = shell.spec.effective_ttl_seconds() or settings.default_token_seconds
    issue = KubeconfigIssue(
        namespace=ns,
        service_account=account,
        secret_name=secret,
        server=settings.cluster_server,
        expiration_seconds=max(MIN_TOKEN_SECONDS, ttl),
        labels=labels,
        owner_references=(owner,),
    )
    waiting = Waiting(
        "KubeconfigIssuing", f"issuing a kubeconfig for ServiceAccount {ns}/{account}"
    )
    return KubeconfigOutcome(
        source, None, wanted=wanted, issue=issue, waiting=waiting, secret_name=secret
    )
