"""Problems found in a CloudShell, each with the path of the field it concerns."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class Problem:
    """One thing wrong with a CloudShell. ``path`` looks like ``spec.ingressConfig.host``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidShell(ValueError):
    """A CloudShell that does not validate; carries every problem, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid CloudShell")
