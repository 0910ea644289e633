"""Secrets as the API server stores them: ``type`` defaults to Opaque and ``stringData`` is
folded into ``data`` (base64) on every write, so it is never stored or returned."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType


def _normalise(obj: dict[str, Any]) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(obj.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


class SecretStrategy(Strategy):
    """Defaults and ``stringData`` handling of core/v1 Secrets."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        _normalise(obj)

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        _normalise(new)
