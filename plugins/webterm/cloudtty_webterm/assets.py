"""The page's files: our own (static/) and xterm.js dist files from npm (frontend/)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
FRONTEND_DIR = PACKAGE_DIR / "frontend"
NODE_MODULES_ENV = "CLOUDTTY_WEBTERM_NODE_MODULES"

#: URL name under ``vendor/`` → file inside node_modules.
VENDOR_FILES = {
    "xterm.mjs": "@xterm/xterm/lib/xterm.mjs",
    "xterm.css": "@xterm/xterm/css/xterm.css",
    "addon-fit.mjs": "@xterm/addon-fit/lib/addon-fit.mjs",
    "addon-web-links.mjs": "@xterm/addon-web-links/lib/addon-web-links.mjs",
}
OWN_FILES = ("webterm.js", "webterm.css")


class AssetsMissing(RuntimeError):
    """xterm.js was not installed next to the package."""


def node_modules_dir() -> Path:
    """Where the npm packages live (``$CLOUDTTY_WEBTERM_NODE_MODULES`` overrides)."""
    override = os.environ.get(NODE_MODULES_ENV)
    return Path(override) if override else FRONTEND_DIR / "node_modules"


def vendor_file(name: str) -> Path | None:
    """The file behind ``vendor/<name>``, or None for names the page does not use."""
    relative = VENDOR_FILES.get(name)
    return node_modules_dir() / relative if relative else None


def own_file(name: str) -> Path | None:
    """The file behind ``assets/<name>``, or None."""
    return STATIC_DIR / name if name in OWN_FILES else None


def check_assets() -> None:
    """Raise :class:`AssetsMissing` with the fix when npm packages are not installed."""
    missing = [rel for rel in VENDOR_FILES.values() if not (node_modules_dir() / rel).is_file()]
    if missing:
        raise AssetsMissing(
            f"xterm.js is not installed ({', '.join(missing)} missing under {node_modules_dir()}): "
            f"run `npm ci` in {FRONTEND_DIR} (`./dev setup` does it for a checkout)"
        )


def page_template() -> str:
    """The HTML page with its ``__CLOUDTTY_*__`` placeholders."""
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")
