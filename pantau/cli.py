"""The `pantau` command.

    pantau serve  [--host H] [--port P] [--demo | --no-demo] [--cameras SEL]   ingest + relay
    pantau ingest --redis-url URL [--cameras SEL] [--port P]                 sources only
    pantau relay  --redis-url URL [--host H] [--port P]                      HTTP only
    pantau cameras list   [--node URL] [--kecamatan CODE] [--kind tps|recap] [--q TEXT] [--json]
    pantau cameras import FILE [--node URL] [--mode create|upsert]
    pantau token create|list|revoke

Every command takes --data-dir, --redis-url and --config; the roles also --bus-redis-url (the
site's stream bus; default: the registry Redis) and --node-id. `cameras` commands talk to a running
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
from pantau.access.redaction import redact, setup_logging
from pantau.cameras import source_policy, visibility
from pantau.runtime.config import ConfigError, Settings, load_settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the embedded registry keeps its files (default ~/.local/share/pantau)")
    parser.add_argument("--redis-url", help="the site's registry Redis (default: a private embedded Redis)")
    parser.add_argument("--config", help="YAML config file (or PANTAU_CONFIG)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--log-format", choices=("text", "json"), help="text (default) or json: one JSON object a line, for log shippers")


def _remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", help="URL of a running node, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", help="admin token for --node (better: PANTAU_TOKEN in the environment)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau", description="Pantau: open vote-count camera relay for DKI Jakarta")
    parser.add_argument("--version", action="version", version=f"pantau {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the all-in-one node (ingest + relay)")
    relay = commands.add_parser("relay", help="a site's relay: every HTTP endpoint, no camera sources")
    ingest = commands.add_parser("ingest", help="a site's ingest worker: camera sources, no HTTP unless --port")
    for role in (serve, relay, ingest):
        _common(role)
        role.add_argument("--bus-redis-url", help="the site's stream bus Redis (no persistence needed; default: the registry Redis)")
        role.add_argument("--node-id", help="this process's name on the site (default: host name and pid)")
        role.add_argument("--host", help="listen address (default 127.0.0.1)")
        role.add_argument("--port", type=int, help="listen port (default 8080; 0 picks a free one)"
                          if role is not ingest else "serve /healthz, /api/metrics, /metrics and /whip/ on this port (default: no HTTP)")
    for role in (serve, ingest):
        role.add_argument("--cameras", help="ingest only these cameras: region code prefixes and/or id globs, comma-separated "
                                            "(e.g. 31.71,31.72 or 'rekap-*'); default all")
    for role in (serve, relay):
        demo = role.add_mutually_exclusive_group()
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

    verify = commands.add_parser("verify", help="check recordings offline: segments, hash chain, signatures (README: Recordings)")
    _common(verify)
    verify.add_argument("target", metavar="DIR|ZIP|URL", help="a recordings directory, one camera's, an export zip or its URL")
    verify.add_argument("--from", dest="start", help="check segment files from this time (ISO 8601; UTC if no offset)")
    verify.add_argument("--to", dest="end", help="... up to this time")
    verify.add_argument("--key", action="append", type=Path, help="a trusted public key (PEM; default: site-key.pub.pem of the directory)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    http = {k: v for k, v in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None))) if v is not None}
    cameras = getattr(args, "cameras", None)
    return load_settings(
        args.config, data_dir=args.data_dir, redis_url=args.redis_url, log_level=args.log_level, log_format=args.log_format,
        demo=getattr(args, "demo", None), http=http or None, bus_redis_url=getattr(args, "bus_redis_url", None),
        node_id=getattr(args, "node_id", None), ingest={"cameras": cameras} if cameras is not None else None,
    )


def run_role(args: argparse.Namespace, settings: Settings) -> int:
    from pantau.cameras.camera_selector import SelectorError, camera_selector
    from pantau.runtime.node import run_node

    if args.command != "serve" and not settings.redis_url:
        raise ConfigError(f"`pantau {args.command}` runs on a site: give --redis-url (the registry Redis every process shares)")
    try:
        camera_selector(settings.ingest.cameras)
    except SelectorError as exc:
        raise ConfigError(str(exc)) from None
    serve_http = args.command != "ingest" or args.port is not None
    asyncio.run(run_node(settings, role=args.command, serve_http=serve_http))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        setup_logging(settings.log_level, settings.log_format)
        source_policy.configure(settings.source_policy, own_ports=[settings.http.port])  # validation of imports
        visibility.configure(settings.visibility)
        if args.command in ("serve", "ingest", "relay"):
            return run_role(args, settings)
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
