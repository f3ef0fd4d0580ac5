"""``luminad serve | export-schemas | rebuild-projections | install-service | prepare-models``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from luminad.settings import REPO_ROOT, load_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``luminad`` script."""
    parser = argparse.ArgumentParser(prog="luminad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="run the daemon (Unix socket and loopback TCP)")
    srv.add_argument(
        "--env-file",
        type=Path,
        help="settings to apply first (the 0600 JSON file `install-service` writes)",
    )
    exp = sub.add_parser("export-schemas", help="write JSON Schema of the protocol to schemas/")
    exp.add_argument("--out", type=Path, default=REPO_ROOT / "schemas")
    sub.add_parser("rebuild-projections", help="drop every read model and rebuild it from the log")
    svc = sub.add_parser("install-service", help="start luminad at login (launchd/systemd)")
    svc.add_argument("--uninstall", action="store_true")
    sub.add_parser("prepare-models", help="convert and verify the bundled models (once)")
    args = parser.parse_args(argv)

    if args.command == "export-schemas":
        from luminad.schemas_export import export_schemas

        for path in export_schemas(args.out):
            print(path)
        return 0

    if getattr(args, "env_file", None) is not None:
        from luminad.service import read_env_file

        os.environ.update(read_env_file(args.env_file))
    settings = load_settings()
    if args.command == "serve":
        from luminad.api.server import serve

        return serve(settings)
    if args.command == "rebuild-projections":
        from luminad.projections.runner import rebuild_all

        rebuild_all(settings)
        return 0
    if args.command == "install-service":
        from luminad.service import install_service

        return install_service(settings, uninstall=args.uninstall)
    if args.command == "prepare-models":
        from luminad.providers.registry import prepare_models

        return prepare_models(settings)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
