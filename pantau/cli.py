"""The `pantau` command.

    pantau serve [--host H] [--port P] [--demo | --no-demo]
    pantau cameras list   [--node URL] [--kecamatan CODE] [--kind tps|recap] [--q TEXT] [--json]
    pantau cameras import FILE [--node URL] [--mode create|upsert]
    pantau token create|list|revoke

Every command takes --data-dir, --redis-url and --config. `cameras` commands talk to a running
node with --node (token from --token or PANTAU_TOKEN / PANTAU_ADMIN_TOKEN), or work directly on
the data dir / Redis URL (reusing a running node's private Redis, never starting a second one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pantau import __version__
from pantau.config import ConfigError, Settings, load_settings
from pantau.redaction import redact, setup_logging


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the embedded registry keeps its files (default ~/.local/share/pantau)")
    parser.add_argument("--redis-url", help="the site's registry Redis (default: a private embedded Redis)")
    parser.add_argument("--config", help="YAML config file (or PANTAU_CONFIG)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")


def _remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", help="URL of a running node, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", help="admin token for --node (better: PANTAU_TOKEN in the environment)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau", description="Pantau: open vote-count camera relay for DKI Jakarta")
    parser.add_argument("--version", action="version", version=f"pantau {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the all-in-one node")
    _common(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8080; 0 picks a free one)")
    demo = serve.add_mutually_exclusive_group()
    demo.add_argument("--demo", dest="demo", action="store_const", const=True, help="seed the demo set even on a site Redis")
    demo.add_argument("--no-demo", dest="demo", action="store_const", const=False, help="never seed the demo set")

    cameras = commands.add_parser("cameras", help="list or import cameras").add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = cameras.add_parser("list", help="list cameras (passwords masked)")
    _common(listing)
    _remote(listing)
    for level in ("kota", "kecamatan", "kelurahan"):
        listing.add_argument(f"--{level}", help=f"only cameras in this {level} (dotted code)")
    listing.add_argument("--kind", choices=("tps", "recap"))
    listing.add_argument("--q", help="text in the id or name")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    importing = cameras.add_parser("import", help="import cameras from a CSV file (all or nothing)")
    _common(importing)
    _remote(importing)
    importing.add_argument("file", type=Path)
    importing.add_argument("--mode", choices=("create", "upsert"), default="create")

    token = commands.add_parser("token", help="manage admin and operator tokens").add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token.add_parser("create", help="create a token and print it once")
    _common(create)
    create.add_argument("--label", required=True)
    create.add_argument("--role", choices=("admin", "operator"), default="admin")
    _common(token.add_parser("list", help="list token labels and roles"))
    revoke = token.add_parser("revoke", help="revoke the token with this label")
    _common(revoke)
    revoke.add_argument("label")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    http = {k: v for k, v in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None))) if v is not None}
    return load_settings(
        args.config, data_dir=args.data_dir, redis_url=args.redis_url, log_level=args.log_level,
        demo=getattr(args, "demo", None), http=http or None,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        setup_logging(settings.log_level)
        if args.command == "serve":
            from pantau.node import run_node

            asyncio.run(run_node(settings))
            return 0
        from pantau import cli_commands

        return asyncio.run(cli_commands.run(args, settings))
    except ConfigError as exc:
        print(f"pantau: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error; never a password
        from pantau.cli_commands import CliError

        if isinstance(exc, CliError):
            print(f"pantau: {redact(str(exc))}", file=sys.stderr)
            return exc.exit_code
        if os.environ.get("PANTAU_DEBUG"):
            raise
        print(f"pantau: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
