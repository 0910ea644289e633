"""Set-up shared by the tests in this folder."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The chart renderer lives beside the chart (deploy/helm/render), outside every package; it is
# loaded once, under one name, for the deployment tests to import.
HELMRENDER = "cloudtty_deploy_helmrender"
if HELMRENDER not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        HELMRENDER, ROOT / "deploy" / "helm" / "render" / "helmrender.py"
    )
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[HELMRENDER] = _module
    _spec.loader.exec_module(_module)
