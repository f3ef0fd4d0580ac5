"""The registry of ``lumina`` subcommands and what each one is given to run.

A module adds its own subcommand with :func:`command` (``lumina_cli.talk`` does this for
``lumina talk``); :mod:`lumina_cli.main` imports the modules and builds the parser from
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from lumina_cli.client import DaemonClient
from luminad.settings import Settings


@dataclass
class Context:
    """What every subcommand gets: settings, a console, and the daemon client."""

    settings: Settings
    console: Console
    err: Console

    def client(self) -> DaemonClient:
        """A new client of the daemon's HTTP API (use it as a context manager)."""
        return DaemonClient(self.settings)


Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace, Context], int]


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one line of help, what runs it and what adds its arguments."""

    name: str
    help: str
    run: Run
    configure: Configure | None = None


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, configure: Configure | None = None) -> Callable[[Run], Run]:
    """Register ``lumina <name>``: ``@command("talk", "speak to Lumina", add_args)``."""

    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name=name, help=help, run=run, configure=configure)
        return run

    return register
