"""Another controller can run the planner with nothing but the public facade."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_foreign_controller_plans_a_shell_using_only_the_facade() -> None:
    # A separate interpreter, so nothing the test suite imported can leak in; it imports
    # exactly one module of ours: the facade.
    program = textwrap.dedent(
        """
        import sys
        from datetime import datetime, timezone

        from cloudtty_core import (
            AuthSetup, ClusterPoolView, Exposure, OperatorSettings, PlanContext, Snapshot,
            BackendRegistry, plan, worker_service,
        )

        class Route:
            name = "MyRoute"
            watched_kinds = ()
            def expose(self, request):
                w = request.worker
                return Exposure(owned=(worker_service(w),), url=f"http://{w.service_name}/")
            def release(self, request):
                return ()

        class NoAuth:
            name = "none"
            def configure(self, request):
                return AuthSetup(mode="none")
            def session_auth(self, setup, material):
                return {"mode": "none"}

        class Cold:
            name = "mine"
            default_image = "example.org/term:1"
            port = 8080
            supports_warm_pool = False
            supported_auth = frozenset({"none"})
            def worker_pod(self, request):
                raise AssertionError("never warm")
            def cold_pod(self, request):
                return {"apiVersion": "v1", "kind": "Pod", "metadata": {},
                        "spec": {"containers": [{"name": "t", "image": request.image}]}}
            def session(self, request):
                raise AssertionError("never warm")

        registry = BackendRegistry()
        registry.add_exposure(Route())
        registry.add_auth(NoAuth())
        registry.add_image(Cold())
        shell = {
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell",
            "metadata": {"name": "s", "namespace": "ops", "uid": "u-1", "generation": 1,
                         "resourceVersion": "7"},
            "spec": {"exposureMode": "MyRoute", "imageBackend": "mine",
                     "configmapName": "kc"},
        }
        kc = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "kc", "namespace": "ops"}, "data": {"config": "x"}}
        cluster = Snapshot.of(shell, kc)
        result = plan(shell, cluster, ClusterPoolView(cluster),
                      datetime(2024, 1, 1, tzinfo=timezone.utc), PlanContext(registry))
        kinds = sorted(o["kind"] for o in result.creates)
        assert kinds == ["Pod", "Service", "ServiceAccount"], kinds
        assert result.status is not None and result.status.phase.value == "Provisioning"
        leaked = sorted(m for m in sys.modules
                        if m.startswith(("kubernetes", "anyio", "aiohttp", "yaml", "pytest")))
        assert leaked == [], leaked
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
