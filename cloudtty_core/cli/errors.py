"""The error the command line reports as one line."""

from __future__ import annotations


class CliError(Exception):
    """Something the user must fix (a missing file, a broken YAML document, a bad option)."""

    def __init__(self, message: str, exit_status: int = 2) -> None:
        super().__init__(message)
        self.exit_status = exit_status
