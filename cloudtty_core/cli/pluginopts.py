"""Plugin-loading options shared by the commands that need backends (plugins, render, run)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cloudtty_core.cli.errors import CliError

if TYPE_CHECKING:
    from cloudtty_core.plugins import LoadedPlugins


def add_plugin_options(parser: argparse.ArgumentParser) -> None:
    """``--block NAME``, ``--no-autoload`` and ``--strict``."""
    group = parser.add_argument_group("plugins")
    group.add_argument(
        "--block",
        action="append",
        default=[],
        metavar="NAME",
        help="do not load this plugin or distribution (repeatable; also CLOUDTTY_BLOCK_PLUGINS)",
    )
    group.add_argument(
        "--no-autoload",
        action="store_true",
        help="load no entry-point plugins (also CLOUDTTY_NO_AUTOLOAD=1)",
    )
    group.add_argument(
        "--strict", action="store_true", help="a plugin that fails to load is an error"
    )


def load_from_args(args: argparse.Namespace) -> LoadedPlugins:
    """Load the plugins as the options say; plugin errors become one-line :class:`CliError`."""
    from cloudtty_core.plugins import PluginLoadError, load_plugins
    from cloudtty_core.registry import BackendError

    try:
        return load_plugins(blocked=args.block, autoload=not args.no_autoload, strict=args.strict)
    except (PluginLoadError, BackendError) as error:
        raise CliError(str(error)) from None
