"""A flood of bad CSV imports costs a node a bounded amount of memory (issue 13, part 4).

Concurrent imports of 20,000 bad lines each once held every row and every error at once and
took a relay from 179 to 422 MB that CPython never handed back. Now a file is checked a row at
a time, only its first errors are kept, and a node runs one import at a time.
"""

from __future__ import annotations

import tracemalloc

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pantau.access.tokens import TokenStore
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.camera_csv import MAX_REPORTED_ERRORS, ImportInvalid, validate_csv
from pantau.cameras.camera_import import exclusive_import
from pantau.cameras.regions import dki_regions
from pantau.runtime.config import load_settings
from relay.app import create_app

ADMIN_TOKEN = "admin-token-for-import-flood-0123"
CSV_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"}
HEADER = "id,kind,region,tps,name,source,transport,source_token,public,enabled,tags\n"
GOOD = HEADER + "cam-kept,tps,31.71.01.1001,1,,demo,tcp,,true,true,\n"


ERRORS_PER_LINE = 6  # kind, region, tps, source, transport, enabled


def bad_file(lines: int) -> str:
    """Every line wrong in ERRORS_PER_LINE fields."""
    return HEADER + "".join(f"x{n},tps-ish,99.99,0,,ftp://nope,carrier-pigeon,,maybe,perhaps,\n" for n in range(lines))


@pytest.fixture
async def client(registry, tmp_path):
    settings = load_settings(data_dir=tmp_path)
    tokens = TokenStore(registry.redis, {"admin": ADMIN_TOKEN})
    test_client = TestClient(TestServer(create_app(settings, registry, tokens, InProcessBus())))
    await test_client.start_server()
    yield test_client
    await test_client.close()


def test_a_bad_file_is_checked_without_holding_its_rows_or_all_its_errors():
    text = bad_file(20_000)
    regions = dki_regions()
    tracemalloc.start()
    try:
        with pytest.raises(ImportInvalid) as info:
            validate_csv(text, regions, {}, upsert=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    refused = info.value
    assert len(refused.errors) == MAX_REPORTED_ERRORS and refused.total == ERRORS_PER_LINE * 20_000
    assert refused.not_listed == refused.total - MAX_REPORTED_ERRORS
    assert (refused.errors[0].line, refused.errors[0].field) == (2, "kind")
    # Holding every row and error (and a copy of the file at 4 bytes a character) peaked at 35 MB;
    # a row at a time and the first 1,000 errors at 0.2 MB.
    assert peak < 2 * 2**20, f"validating 20,000 bad lines peaked at {peak / 2**20:.1f} MB"


async def test_the_422_lists_the_first_errors_and_says_how_many_are_left_out(client):
    async with client.post("/api/admin/cameras/import", data=GOOD, headers=CSV_HEADERS) as response:
        assert response.status == 200, await response.text()
    async with client.post("/api/admin/cameras/import?mode=upsert", data=bad_file(3_000), headers=CSV_HEADERS) as response:
        assert response.status == 422
        body = await response.json()
    assert body["error_count"] == ERRORS_PER_LINE * 3_000
    assert body["errors_not_listed"] == body["error_count"] - MAX_REPORTED_ERRORS
    assert len(body["errors"]) == MAX_REPORTED_ERRORS and f"the first {MAX_REPORTED_ERRORS} are listed" in body["message"]
    assert body["errors"][0] == {"line": 2, "field": "kind", "reason": body["errors"][0]["reason"]}
    async with client.get("/api/admin/cameras/cam-kept", headers=CSV_HEADERS) as response:
        assert response.status == 200  # nothing already stored was lost


async def test_a_second_import_while_one_runs_is_refused_with_retry_after(client):
    with exclusive_import():  # an import running on this node (the server runs in this process)
        async with client.post("/api/admin/cameras/import", data=GOOD, headers=CSV_HEADERS) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "5"
            body = await response.json()
        assert "another CSV import is running on this node" in body["message"]
    async with client.get("/api/admin/cameras/cam-kept", headers=CSV_HEADERS) as response:
        assert response.status == 404  # the refused import stored nothing
    async with client.post("/api/admin/cameras/import", data=GOOD, headers=CSV_HEADERS) as response:
        assert response.status == 200  # the slot is free again once the running import ends
