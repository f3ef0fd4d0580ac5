"""``lumina``: talk to and manage the Lumina daemon from a terminal (over its Unix socket).

Subcommands live in one registry (:data:`lumina_cli.registry.COMMANDS`); each module in
:data:`PLUGINS` adds its own with :func:`lumina_cli.registry.command` when :func:`main`
imports it (a missing one is skipped).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rich.console import Console

from lumina_cli.client import EXIT_NOT_RUNNING, NOT_RUNNING, ApiError, NotRunning
from lumina_cli.output import print_error
from lumina_cli.registry import COMMANDS, Context, command
from luminad.settings import Settings, load_settings

__all__ = ["COMMANDS", "PLUGINS", "Context", "build_parser", "command", "load_plugins", "main"]

#: The modules that register subcommands, in the order ``lumina --help`` lists them.
PLUGINS: tuple[str, ...] = (
    "lumina_cli.chat",
    "lumina_cli.doctor",
    "lumina_cli.daemon",
    "lumina_cli.user_data",
    "lumina_cli.events",
    "lumina_cli.replay",
    "lumina_cli.talk",
)


def load_plugins(names: Sequence[str] = PLUGINS) -> None:
    """Import each module in ``names`` so it registers its subcommands."""
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every registered subcommand."""
    load_plugins()
    parser = argparse.ArgumentParser(prog="lumina", description="Talk to Lumina and manage it.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if cmd.configure is not None:
            cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Entry point of the ``lumina`` script."""
    args = build_parser().parse_args(argv)
    ctx = Context(
        settings=settings or load_settings(),
        console=Console(highlight=False),
        err=Console(stderr=True, highlight=False),
    )
    try:
        return COMMANDS[args.command].run(args, ctx)
    except NotRunning:
        print(NOT_RUNNING, file=sys.stderr)
        return EXIT_NOT_RUNNING
    except ApiError as exc:
        print_error(ctx, exc)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
