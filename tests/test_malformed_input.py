"""Malformed and hostile input gets a 4xx (or a quiet close) and at most one short log line,
never a 500 with a traceback (issue 15, findings 9 and 10; the fuzzers' finds are here too)."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import logging
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from pantau.access.tokens import TokenStore
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.runtime.config import load_settings
from relay.app import create_app

ADMIN_TOKEN = "admin-token-for-malformed-input-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def camera(**extra) -> dict:
    return {"kind": "tps", "region": "31.71.01.1001", "tps": 7, "source": "demo", **extra}


@pytest.fixture
async def client(redis_server, tmp_path, caplog):
    """The relay app served as `pantau serve` serves it (aiohttp's TestServer cancels a
    handler whose client hangs up, which the node does not)."""
    caplog.set_level(logging.INFO)
    redis = aioredis.from_url(redis_server.url, decode_responses=True)
    registry = Registry(redis, dki_regions())
    app = create_app(load_settings(data_dir=tmp_path), registry, TokenStore(redis, {"admin": ADMIN_TOKEN}), InProcessBus())
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        session.port = port
        yield session
    await runner.cleanup()
    await redis.aclose()


def assert_quiet(caplog) -> None:
    """No traceback and no error in the log: at most short lines."""
    for record in caplog.records:
        assert record.exc_info is None, f"{record.name}: {record.getMessage()[:200]} (with a traceback)"
        assert record.levelno < logging.ERROR, f"{record.name}: {record.getMessage()[:200]}"
        assert len(record.getMessage()) < 300, record.getMessage()[:300]


async def post_json(client, path: str, body: bytes | str, headers: dict | None = None) -> tuple[int, dict]:
    data = body.encode() if isinstance(body, str) else body
    async with client.post(path, data=data, headers={**ADMIN, **(headers or {})}) as response:
        return response.status, await response.json()


# --- Finding 9: 500s from malformed JSON bodies ------------------------------------------------

async def test_100000_nested_brackets_are_a_400(client, caplog):
    status, body = await post_json(client, "/api/admin/cameras", "[" * 100_000)
    assert status == 400 and body["errors"][0]["field"] == "body", body
    assert_quiet(caplog)


async def test_nesting_just_under_the_recursion_limit_is_a_400_too(client, caplog):
    status, body = await post_json(client, "/api/admin/cameras", "[" * 500 + "]" * 500)
    assert status == 400 and "nests deeper" in body["message"], body
    assert_quiet(caplog)


async def test_a_5000_digit_number_is_a_400(client, caplog):
    status, body = await post_json(client, "/api/admin/cameras", '{"tps": ' + "9" * 5000 + "}")
    assert status == 400 and "too long" in body["message"], body
    assert_quiet(caplog)


async def test_an_unknown_charset_is_a_415(client, caplog):
    for charset in ("bogus-enc", "base64", "rot13"):
        status, body = await post_json(client, "/api/admin/cameras", json.dumps(camera()),
                                       {"Content-Type": f"application/json; charset={charset}"})
        assert status == 415 and "charset" in body["message"], (charset, body)
    assert_quiet(caplog)


async def test_a_body_that_is_not_text_in_its_charset_is_a_400(client, caplog):
    status, _ = await post_json(client, "/api/admin/cameras", b'{"name": "\xff\xfe"}')
    assert status == 400
    status, _ = await post_json(client, "/api/admin/cameras", b'{"a": 1}\x00', {"Content-Type": "application/json; charset=utf-16"})
    assert status == 400
    assert_quiet(caplog)


async def test_a_lone_surrogate_in_a_camera_name_is_a_400_and_nothing_is_stored(client, caplog):
    for escaped in (r"\ud800", r"x\udfffy"):
        status, body = await post_json(client, "/api/admin/cameras", json.dumps(camera()).replace('"demo"', '"demo", "name": "' + escaped + '"'))
        assert status == 400 and "surrogate" in body["message"], body
    # ...also as a key, and a proper surrogate pair is a character like any other.
    status, _ = await post_json(client, "/api/admin/cameras", '{"\\ud800": 1}')
    assert status == 400
    status, stored = await post_json(client, "/api/admin/cameras", json.dumps(camera(name="TPS \U0001f5f3 7")))
    assert status == 201 and stored["name"] == "TPS \U0001f5f3 7", stored
    assert_quiet(caplog)


async def test_nan_and_infinity_are_not_json(client, caplog):
    for constant in ("NaN", "Infinity", "-Infinity"):
        status, body = await post_json(client, "/api/admin/cameras", '{"tps": ' + constant + "}")
        assert status == 400 and constant in body["message"], body
    assert_quiet(caplog)


async def test_the_sign_in_reads_json_the_same_way(client, caplog):
    status, _ = await post_json(client, "/api/session", "[" * 100_000, {"Authorization": ""})
    assert status == 400
    assert_quiet(caplog)


async def hang_up_mid_body(client, path: str, content_type: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: pantau\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                 f"Content-Type: {content_type}\r\nContent-Length: 4000\r\n\r\n".encode() + b"x" * 100)  # under every body limit
    await writer.drain()
    await asyncio.sleep(0.1)  # the handler is now waiting for the rest of the body
    writer.close()
    await writer.wait_closed()


async def test_a_client_hanging_up_mid_body_leaves_one_short_line(client, caplog):
    status, _ = await post_json(client, "/api/admin/cameras", json.dumps(camera(id="cam-whep")))
    assert status == 201
    paths = [("/api/admin/cameras", "application/json"), ("/api/admin/cameras/import", "text/csv"),
             ("/whep/cam-whep", "application/sdp")]
    for path, content_type in paths:
        await hang_up_mid_body(client, path, content_type)
    for _ in range(100):  # until each request has been dealt with (its access-log line)
        answered = [p for p, _ in paths if any(f"POST {p} " in r.getMessage() for r in caplog.records)]
        if len(answered) == len(paths):
            break
        await asyncio.sleep(0.05)
    assert len(answered) == len(paths), [r.getMessage() for r in caplog.records]
    lines = [r.getMessage() for r in caplog.records if "closed the connection" in r.getMessage()]
    # (a WHEP offer may instead be refused from its first bytes: either way, quietly)
    assert any(m.endswith("/api/admin/cameras") for m in lines) and any("/import" in m for m in lines), lines
    assert_quiet(caplog)


# --- Finding 10: ids ending in a newline ---------------------------------------------------------

async def test_an_id_ending_in_a_newline_is_refused(client, caplog):
    for bad in ("qa-nl\n", "qa-nl\r\n", "\nqa-nl"):
        status, body = await post_json(client, "/api/admin/cameras", json.dumps(camera(id=bad)))
        assert status == 422 and body["errors"][0]["field"] == "id", (bad, body)
    status, _ = await post_json(client, "/api/admin/cameras", json.dumps(camera(id="qa-nl")))
    assert status == 201
    for path in ("/api/cameras/qa-nl%0A", "/api/cameras/qa-nl%0A/tile.jpg", "/api/admin/cameras/qa-nl%0A"):
        async with client.get(path, headers=ADMIN) as response:
            assert response.status == 404, path
    async with client.post("/whep/qa-nl%0A", data="v=0\r\n", headers={"Content-Type": "application/sdp"}) as response:
        assert response.status == 404
    async with client.post("/api/admin/probe", json={"camera_id": "qa-nl\n"}, headers=ADMIN) as response:
        assert response.status == 400
    assert_quiet(caplog)


async def test_a_listing_cursor_ending_in_a_newline_is_a_400(client, caplog):
    cursor = base64.urlsafe_b64encode(b"qa-nl\n").decode().rstrip("=")
    async with client.get(f"/api/cameras?cursor={cursor}") as response:
        assert response.status == 400 and (await response.json())["errors"][0]["field"] == "cursor"
    assert_quiet(caplog)


@pytest.mark.parametrize("before", ["1-1%0a", "1-1%0A", "%D9%A1-%D9%A1", "1-%F0%9D%9F%99"])
async def test_an_audit_cursor_with_a_newline_or_non_ascii_digits_is_a_400(client, caplog, before):
    # "١-١" (Arabic-Indic digits) and "1-𝟙" pass \d and int() but not Redis: they were 500s too.
    async with client.get(f"/api/admin/audit?before={before}", headers=ADMIN) as response:
        body = await response.json()
        assert response.status == 400 and body["errors"][0]["field"] == "before", body
    assert_quiet(caplog)


def test_no_pattern_in_the_product_ends_in_a_bare_dollar():
    """`$` matches before a final newline: checked with `.match`, "qa-nl\\n" passed as an id.
    Patterns end in `\\Z` or are used with `.fullmatch`."""
    root = Path(__file__).resolve().parent.parent
    found = []
    for path in sorted(p for folder in ("pantau", "relay", "ingest") for p in (root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("compile", "match", "search", "fullmatch")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str | bytes)):
                pattern = node.args[0].value
                dollar = "$" if isinstance(pattern, str) else b"$"
                multiline = any("MULTILINE" in ast.unparse(a) or ast.unparse(a).endswith(".M") for a in node.args[1:])
                if pattern.endswith(dollar) and not multiline:
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, found


# --- Found by the fuzzers (tests/test_fuzz_parsers.py) -------------------------------------------

def test_avcc_extradata_with_an_empty_or_truncated_parameter_set_is_ignored():
    """A camera's avcC extradata announcing a PPS of 0 bytes (or more bytes than it has) gave an
    empty NAL unit, and AnnexBNormalizer raised IndexError on it: the camera never started."""
    from ingest.h264 import AnnexBNormalizer, parameter_sets_from_extradata

    sps = b"\x67\x42\xc0\x1f\xda"
    for extradata in (b"\x01\x00\x00\x00\x00\x00\x01", b"\x01\x42\xc0\x1f\xff\xe1\x00\x05" + sps + b"\x01\x00\x09\x68",
                      b"\x01\x42\xc0\x1f\xff\xe1\x00\x00\x01\x00\x00"):
        units = parameter_sets_from_extradata(extradata)
        assert all(units), (extradata, units)
        AnnexBNormalizer(extradata).normalize(b"\x00\x00\x00\x01\x65\x88")
    assert parameter_sets_from_extradata(b"\x01\x42\xc0\x1f\xff\xe1\x00\x05" + sps + b"\x01\x00\x02\x68\xce") == [sps, b"\x68\xce"]
