"""What `pantau cameras …` and `pantau token …` do, on a running node (--node) or directly
on the registry (data dir or Redis URL)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from tqdm import tqdm

from pantau.access.redaction import known_secrets
from pantau.access.tokens import TokenStore
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import admin_view
from pantau.cameras.camera_csv import ImportInvalid
from pantau.cameras.camera_import import import_csv
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import ListQuery, Registry
from pantau.runtime.config import Settings
from pantau.runtime.redis_client import RedisHandle, open_redis

LIST_COLUMNS = ("id", "kind", "region", "name", "source", "enabled", "public")


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.asynccontextmanager
async def registry_session(settings: Settings) -> AsyncIterator[tuple[Registry, RedisHandle]]:
    try:
        handle = await open_redis(settings)
    except Exception as exc:
        where = settings.redis_url or f"the embedded Redis in {settings.data_dir}"
        raise CliError(f"cannot open the registry at {where}: {exc}") from None
    try:
        yield Registry(handle.client, dki_regions()), handle
    finally:
        await handle.close()


def _node_token(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("PANTAU_TOKEN") or os.environ.get("PANTAU_ADMIN_TOKEN")
    if not token:
        raise CliError("--node needs an admin token: --token T, or PANTAU_TOKEN in the environment", 2)
    known_secrets.add(token)
    return token


async def _node_request(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    try:
        async with session.request(method, url, **kwargs) as response:
            body = await response.text()
            data = json.loads(body) if response.content_type == "application/json" else body
            if response.status >= 400:
                if isinstance(data, dict) and data.get("errors") and "line" in (data["errors"][0] or {}):
                    _print_line_errors(data["errors"], data.get("error_count", len(data["errors"])))
                message = data.get("message") if isinstance(data, dict) else body[:200]
                raise CliError(f"{response.status}: {message}")
            return data
    except aiohttp.ClientError as exc:
        raise CliError(f"cannot reach the node at {url}: {exc}") from None


def _print_line_errors(errors: list[dict], total: int) -> None:
    for error in errors:
        print(f"  line {error['line']}: {error['field']}: {error['reason']}", file=sys.stderr)
    if total > len(errors):
        print(f"  … and {total - len(errors)} more", file=sys.stderr)


def _print_cameras(cameras: list[dict], as_json: bool) -> None:
    if as_json:
        for camera in cameras:
            print(json.dumps(camera, ensure_ascii=False))
        return
    rows = [[str(c.get(col, "")) for col in LIST_COLUMNS] + [c.get("status", {}).get("state", "")] for c in cameras]
    header = [*LIST_COLUMNS, "state"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


async def cameras_list(args: argparse.Namespace, settings: Settings) -> int:
    filters = {k: getattr(args, k) for k in ("kota", "kecamatan", "kelurahan", "kind", "q") if getattr(args, k)}
    cameras: list[dict] = []
    if args.node:
        headers = {"Authorization": f"Bearer {_node_token(args)}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            cursor = None
            while True:
                params = {**filters, "limit": "5000", **({"cursor": cursor} if cursor else {})}
                page = await _node_request(session, "GET", f"{args.node.rstrip('/')}/api/admin/cameras", params=params)
                cameras += page["cameras"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
    else:
        async with registry_session(settings) as (registry, _):
            area = filters.get("kelurahan") or filters.get("kecamatan") or filters.get("kota")
            if area and registry.regions.get(area) is None:
                raise CliError(f"unknown region code {area!r}", 2)
            page, _, _ = await registry.list(ListQuery(area=area, kind=filters.get("kind"), text=filters.get("q"), limit=10**9))
            statuses = await registry.statuses(page)
            cameras = [admin_view(c, statuses[c.id]) for c in page]
    _print_cameras(cameras, args.json)
    print(f"{len(cameras)} camera(s)", file=sys.stderr)
    return 0


async def _upload_with_progress(body: bytes) -> AsyncIterator[bytes]:
    chunk = 256 * 1024
    with tqdm(total=len(body), unit="B", unit_scale=True, desc="upload", file=sys.stderr, disable=None) as bar:
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            bar.update(len(piece))
            yield piece


async def cameras_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        body = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}", 2) from None
    if args.node:
        headers = {"Authorization": f"Bearer {_node_token(args)}", "Content-Type": "text/csv"}
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=600)) as session:
            result = await _node_request(
                session, "POST", f"{args.node.rstrip('/')}/api/admin/cameras/import",
                params={"mode": args.mode}, data=_upload_with_progress(body),
            )
        created, updated = result["created"], result["updated"]
    else:
        async with registry_session(settings) as (registry, _):
            bar = tqdm(unit=" rows", desc="validate", file=sys.stderr, disable=None)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                result = await import_csv(registry, body, Actor(_cli_label(), "local"), upsert=args.mode == "upsert", progress=progress)
            except ImportInvalid as exc:
                bar.close()
                _print_line_errors(exc.to_json(), exc.total)
                raise CliError(f"{args.file} was refused whole; nothing was stored ({exc.total} error(s))") from None
            bar.close()
        created, updated = result.created, result.updated
    print(f"imported {created + updated} camera(s): {created} created, {updated} updated")
    return 0


def _cli_label() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


async def token_command(args: argparse.Namespace, settings: Settings) -> int:
    async with registry_session(settings) as (_, handle):
        tokens = TokenStore(handle.client)
        if args.action == "create":
            try:
                token = await tokens.create(args.label, args.role)
            except ValueError as exc:
                raise CliError(str(exc), 2) from None
            print(f"{args.role} token '{args.label}' (shown only this once): {token}")
        elif args.action == "list":
            for info in await tokens.list():
                print(f"{info['label']}\t{info['role']}\tcreated {info['created_at']}")
        elif (ended := await tokens.revoke(args.label, Actor(_cli_label(), "local"))) is None:
            raise CliError(f"no token labelled {args.label!r}", 1)
        else:
            print(f"revoked {args.label!r}; ended {ended} sign-in session{'' if ended == 1 else 's'}")
    return 0


async def verify_command(args: argparse.Namespace) -> int:
    from outputs.recording.time_range import parse_instant
    from outputs.recording.verify import summary, verify

    try:
        start = parse_instant(args.start) if args.start else None
        end = parse_instant(args.end) if args.end else None
    except ValueError as exc:
        raise CliError(f"--from/--to: {exc}") from None
    report = await asyncio.to_thread(verify, args.target, start, end, args.key)
    print(summary(report))
    return 0 if report.ok else 1


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "verify":
        return await verify_command(args)
    if args.command == "cameras":
        return await (cameras_list if args.action == "list" else cameras_import)(args, settings)
    return await token_command(args, settings)
