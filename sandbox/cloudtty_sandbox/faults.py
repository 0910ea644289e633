"""Fault injection: added latency, error rates per verb/resource, watch cuts, forced compaction."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import attrs

from .errors import ApiError

_ERROR_REASONS = {
    500: "InternalError",
    409: "Conflict",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@attrs.define
class ErrorRule:
    """Fail a share of matching requests. ``verb``/``resource`` are exact names or ``*``."""

    rate: float
    verb: str = "*"
    resource: str = "*"
    codes: list[int] = attrs.field(factory=lambda: [500])
    retry_after_seconds: int = 1

    def matches(self, verb: str, resource: str) -> bool:
        return self.verb in ("*", verb) and self.resource in ("*", resource, resource.split("/")[0])


@attrs.define
class FaultConfig:
    """What to inject. All off by default.

    ``latency_ms`` (+ up to ``latency_jitter_ms``) delays every resource request;
    ``errors`` fail a share of requests before they take effect; ``watch_max_events`` /
    ``watch_max_seconds`` end watch streams early (clients must resume).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    errors: list[ErrorRule] = attrs.field(factory=list)
    watch_max_events: int | None = None
    watch_max_seconds: float | None = None
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Parse the admin endpoint's JSON (camelCase or snake_case keys)."""

        def pick(*names: str, default: Any = None) -> Any:
            for name in names:
                if name in data:
                    return data[name]
            return default

        rules = []
        for rule in pick("errors", default=[]) or []:
            if not isinstance(rule, dict):
                raise ValueError(f"each entry of errors must be an object, got {rule!r}")
            rate = float(rule.get("rate", 0))
            if not 0 <= rate <= 1:
                raise ValueError(f"errors[].rate must be between 0 and 1, got {rate}")
            codes = [int(c) for c in rule.get("codes", [500])]
            bad = [c for c in codes if c not in _ERROR_REASONS]
            if bad:
                raise ValueError(f"errors[].codes may be {sorted(_ERROR_REASONS)}, got {bad}")
            rules.append(
                ErrorRule(
                    rate,
                    str(rule.get("verb", "*")),
                    str(rule.get("resource", "*")),
                    codes,
                    int(rule.get("retryAfterSeconds", rule.get("retry_after_seconds", 1))),
                )
            )
        config = cls(
            latency_ms=float(pick("latencyMs", "latency_ms", default=0.0)),
            latency_jitter_ms=float(pick("latencyJitterMs", "latency_jitter_ms", default=0.0)),
            errors=rules,
            watch_max_events=_optional(int, pick("watchMaxEvents", "watch_max_events")),
            watch_max_seconds=_optional(float, pick("watchMaxSeconds", "watch_max_seconds")),
            seed=_optional(int, pick("seed")),
        )
        if config.latency_ms < 0 or config.latency_jitter_ms < 0:
            raise ValueError("latencyMs and latencyJitterMs must not be negative")
        return config

    def to_dict(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "latencyJitterMs": self.latency_jitter_ms,
            "errors": [
                {
                    "rate": r.rate,
                    "verb": r.verb,
                    "resource": r.resource,
                    "codes": r.codes,
                    "retryAfterSeconds": r.retry_after_seconds,
                }
                for r in self.errors
            ],
            "watchMaxEvents": self.watch_max_events,
            "watchMaxSeconds": self.watch_max_seconds,
            "seed": self.seed,
        }


def _optional(kind: type, value: Any) -> Any:
    """``value`` as ``kind`` (None stays None); negative numbers are refused."""
    if value is None:
        return None
    converted = kind(value)
    if converted < 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return converted


class FaultInjector:
    """Applies a ``FaultConfig`` to requests; reconfigurable at run time."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.injected: dict[str, int] = {}
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    @property
    def active(self) -> bool:
        c = self.config
        return bool(c.latency_ms or c.latency_jitter_ms or c.errors)

    async def before(self, verb: str, resource: str) -> None:
        """Delay and maybe fail one request (raises ``ApiError`` before it takes effect)."""
        c = self.config
        if c.latency_ms or c.latency_jitter_ms:
            await asyncio.sleep((c.latency_ms + self._rng.random() * c.latency_jitter_ms) / 1000)
        for rule in c.errors:
            if rule.rate and rule.matches(verb, resource) and self._rng.random() < rule.rate:
                code = self._rng.choice(rule.codes)
                self.injected[str(code)] = self.injected.get(str(code), 0) + 1
                headers = {}
                details: dict[str, Any] = {
                    "causes": [
                        {"reason": "InjectedFault", "message": "fault injected by the sandbox"}
                    ]
                }
                if code == 429:
                    headers["Retry-After"] = str(rule.retry_after_seconds)
                    details["retryAfterSeconds"] = rule.retry_after_seconds
                raise ApiError(
                    code,
                    f"injected fault: {verb} {resource} failed with {code}",
                    reason=_ERROR_REASONS[code],
                    details=details,
                    headers=headers,
                )
