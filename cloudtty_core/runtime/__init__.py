"""The operator runtime: the only layer of cloudtty that talks to the API server.

Needs the ``runtime`` extra (``kubernetes``, ``anyio``, ``prometheus-client``, ``PyYAML``).
Start an operator with :func:`run_operator` (the ``cloudtty run`` command) or embed one with
:class:`Operator` / :class:`OperatorThread`; see ``docs/architecture.md`` for how the parts
fit together.
"""

from cloudtty_core.runtime.client import ApiError, KubeClient, Resource
from cloudtty_core.runtime.config import RuntimeConfig, add_arguments, config_from_args
from cloudtty_core.runtime.operator import Operator, OperatorThread, run_operator

__all__ = [
    "ApiError",
    "KubeClient",
    "Operator",
    "OperatorThread",
    "Resource",
    "RuntimeConfig",
    "add_arguments",
    "config_from_args",
    "run_operator",
]
