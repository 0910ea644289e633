"""cloudtty auth backends: who may use a shell's terminal.

Four backends, selected by ``spec.auth.mode``:

* ``none`` -- no authentication (CloudTTY's behaviour);
* ``basic`` -- HTTP basic auth, one credential from a Secret (``spec.auth.secretRef``);
* ``token`` -- a random per-shell token in the login link (kept in the Secret named by
  ``status.accessSecret``);
* ``header`` -- user and groups from an auth proxy's headers, checked against
  ``spec.auth.allowedUsers`` / ``spec.auth.allowedGroups``.

Each backend's ``configure`` raises :class:`cloudtty_core.InvalidShell` naming every field of
``spec.auth`` that is wrong; ``session_auth`` raises :class:`CredentialError` naming the Secret
key whose value is unusable. Session ``auth`` objects carry SHA-256 digests, never a password
or token.
"""

from .basic import BasicAuth
from .digest import sha256_hex
from .header import ANY_USER, DEFAULT_GROUPS_HEADER, DEFAULT_USER_HEADER, HeaderAuth
from .none import NoneAuth
from .plugin import backends
from .problems import CredentialError
from .token import MIN_TOKEN_LENGTH, TOKEN_PARAM, TokenAuth

__version__ = "0.1.0"

__all__ = [
    "ANY_USER",
    "DEFAULT_GROUPS_HEADER",
    "DEFAULT_USER_HEADER",
    "MIN_TOKEN_LENGTH",
    "TOKEN_PARAM",
    "BasicAuth",
    "CredentialError",
    "HeaderAuth",
    "NoneAuth",
    "TokenAuth",
    "backends",
    "sha256_hex",
]
