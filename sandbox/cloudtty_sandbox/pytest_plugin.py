"""pytest fixtures for tests against a sandbox cluster (registered through ``pytest11``).

- ``sandbox_config``: override it to change the sandbox (delays, local images, faults).
- ``sandbox``: a running ``ThreadedSandbox`` per test (``.url``, ``.kubeconfig_path``,
  ``.set_faults()``, ``.compact()``, ``.counters()``, ``.kubectl(...)``, ``.exit_container()``).
- ``sandbox_api_client``: a configured ``kubernetes.client.ApiClient``.
- ``sandbox_kubeconfig``: the kubeconfig path (mode 0600).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .config import SandboxConfig
from .threaded import ThreadedSandbox


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """The configuration the ``sandbox`` fixture starts with: short kubelet delays."""
    return SandboxConfig(pod_start_delay=0.05, bookmark_interval=0.5)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig, tmp_path: Path) -> Iterator[ThreadedSandbox]:
    """A running sandbox cluster, stopped (with every process it started) after the test."""
    if sandbox_config.work_dir is None:
        import attrs

        sandbox_config = attrs.evolve(sandbox_config, work_dir=tmp_path / "sandbox")
    running = ThreadedSandbox(sandbox_config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sandbox_api_client(sandbox: ThreadedSandbox) -> Iterator[Any]:
    """``kubernetes.client.ApiClient`` configured for the ``sandbox`` fixture."""
    client = sandbox.api_client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def sandbox_kubeconfig(sandbox: ThreadedSandbox) -> Path:
    """Path of the ``sandbox`` fixture's kubeconfig."""
    return sandbox.kubeconfig_path
