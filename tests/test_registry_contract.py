"""The registry contract, run on a site Redis (Debian redis-server) and on the embedded default."""

import asyncio

import pytest

from pantau.cameras import registry_keys as keys
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import validate_camera
from pantau.cameras.camera_csv import ImportInvalid
from pantau.cameras.camera_import import import_csv
from pantau.cameras.demo_set import seed_demo_once
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import CameraExists, CameraNotFound, ListQuery, Registry

REGIONS = dki_regions()
ADMIN = Actor("test-admin", "127.0.0.1")


def tps(kelurahan: str = "31.71.01.1001", number: int = 1, **extra):
    return validate_camera({"kind": "tps", "region": kelurahan, "tps": number, "source": f"rtsp://u:pw-{number}@10.0.0.{number % 250}/s", **extra}, REGIONS)


async def test_create_get_list_delete(registry: Registry):
    camera = await registry.create(tps(), ADMIN)
    assert await registry.get(camera.id) == camera
    with pytest.raises(CameraExists):
        await registry.create(tps(), ADMIN)
    page, total, cursor = await registry.list(ListQuery(area="31.71.01"))
    assert [c.id for c in page] == [camera.id] and total == 1 and cursor is None
    await registry.delete(camera.id, ADMIN)
    assert await registry.get(camera.id) is None
    with pytest.raises(CameraNotFound):
        await registry.delete(camera.id, ADMIN)


async def test_every_process_sees_every_write(registry: Registry, registry_redis):
    """A second process (its own mirror) sees creates, updates and deletes of the first."""
    other = Registry(registry_redis, REGIONS)
    await other.sync()
    first = await registry.create(tps(number=1), ADMIN)
    assert await other.get(first.id) == first
    renamed = validate_camera({**first.to_stored(), "name": "Renamed"}, REGIONS, stored=first)
    await registry.replace(renamed, ADMIN, expected=first)
    assert (await other.get(first.id)).name == "Renamed"
    await other.delete(first.id, ADMIN)
    assert await registry.get(first.id) is None


async def test_replace_refuses_a_stale_version(registry: Registry):
    first = await registry.create(tps(), ADMIN)
    a = validate_camera({**first.to_stored(), "name": "A"}, REGIONS, stored=first)
    b = validate_camera({**first.to_stored(), "name": "B"}, REGIONS, stored=first)
    await registry.replace(a, ADMIN, expected=first)
    with pytest.raises(CameraExists):
        await registry.replace(b, ADMIN, expected=first)
    assert (await registry.get(first.id)).name == "A"


async def test_concurrent_writers_lose_nothing(registry: Registry, registry_redis):
    others = [Registry(registry_redis, REGIONS) for _ in range(4)]
    await asyncio.gather(*(reg.create(tps(number=n + 1), ADMIN) for n, reg in enumerate([registry, *others] * 5)))
    assert len((await registry.sync()).cameras) == 25


async def test_filters_and_cursor_pages(registry: Registry):
    for n in range(1, 8):
        await registry.create(tps(number=n, public=n % 2 == 1), ADMIN)
    await registry.create(validate_camera({"kind": "recap", "region": "31.71.01", "source": "demo"}, REGIONS), ADMIN)
    await registry.create(tps("31.72.01.1001", 1), ADMIN)
    seen, cursor = [], None
    while True:
        page, total, cursor = await registry.list(ListQuery(area="31.71", limit=3, after=cursor))
        seen += [c.id for c in page]
        assert total == 8
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 8
    public, total, _ = await registry.list(ListQuery(public=True, area="31.71.01.1001"))
    assert total == 4 and all(c.public for c in public)
    recap, total, _ = await registry.list(ListQuery(kind="recap"))
    assert [c.id for c in recap] == ["rekap-317101"]
    found, total, _ = await registry.list(ListQuery(text="TPS 003"))
    assert [c.tps for c in found] == [3]


async def test_import_is_all_or_nothing(registry: Registry):
    await registry.create(tps(number=5), ADMIN)
    rows = ["kind,region,tps,source,public,tags"]
    rows += [f"tps,31.71.01.1002,{n},rtsp://u:imp-{n}@10.1.0.{n}/s,{n % 2},a;b" for n in range(1, 201)]
    rows[150] = "tps,31.71.01.9999,150,rtsp://u:x@10.1.0.1/s,1,"  # line 151: unknown kelurahan
    body = "\n".join(rows).encode()
    with pytest.raises(ImportInvalid) as info:
        await import_csv(registry, body, ADMIN)
    assert [(e.line, e.field) for e in info.value.errors] == [(151, "region")]
    assert len((await registry.sync()).cameras) == 1  # nothing stored
    rows[150] = "tps,31.71.01.1002,150,rtsp://u:x@10.1.0.1/s,1,"
    result = await import_csv(registry, "\n".join(rows).encode(), ADMIN)
    assert (result.created, result.updated) == (200, 0)
    camera = await registry.get("3171011002002")
    assert camera.tags == ["a", "b"] and camera.public is False
    # Create-only by default: existing ids are row errors; upsert updates them.
    with pytest.raises(ImportInvalid) as info:
        await import_csv(registry, "\n".join(rows[:3]).encode(), ADMIN)
    assert [e.line for e in info.value.errors] == [2, 3]
    result = await import_csv(registry, b"kind,region,tps,source,name\ntps,31.71.01.1002,2,rtsp://u:***@10.1.0.2/s2,Baru", ADMIN, upsert=True)
    assert (result.created, result.updated) == (0, 1)
    camera = await registry.get("3171011002002")
    assert camera.source == "rtsp://u:imp-2@10.1.0.2/s2" and camera.name == "Baru"  # same host: the mask keeps it


async def test_import_names_duplicate_and_malformed_lines(registry: Registry):
    body = b'kind,region,tps,source\ntps,31.71.01.1001,1,demo\n"tps",31.71.01.1001,1,demo\ntps,31.71.01.1001,2\n'
    with pytest.raises(ImportInvalid) as info:
        await import_csv(registry, body, ADMIN)
    assert [(e.line, e.field) for e in info.value.errors] == [(3, "id"), (4, "file")]  # one pass names both
    body = b'kind,region,tps,source\ntps,31.71.01.1001,1,demo\ntps,31.71.01.1001,1,demo\n'
    with pytest.raises(ImportInvalid) as info:
        await import_csv(registry, body, ADMIN)
    assert info.value.errors[0].line == 3 and "line 2" in info.value.errors[0].reason
    for bad in (b"", b"\xff\xfe", b"kind,region,colour\n", b"kind,region\n"):
        with pytest.raises(ImportInvalid):
            await import_csv(registry, bad, ADMIN)
    assert not (await registry.sync()).cameras


async def test_demo_set_is_seeded_once(registry: Registry):
    assert await seed_demo_once(registry) == 176
    cameras = (await registry.sync()).cameras
    assert sum(c.kind == "recap" for c in cameras.values()) == 44
    assert sum(c.kind == "tps" for c in cameras.values()) == 132
    assert all(c.source == "demo" for c in cameras.values())
    await registry.delete("rekap-317101", ADMIN)
    assert await seed_demo_once(registry) == 0
    assert await registry.get("rekap-317101") is None


async def test_status_defaults_and_updates(registry: Registry):
    camera = await registry.create(tps(), ADMIN)
    disabled = await registry.create(tps(number=2, enabled=False), ADMIN)
    whip = await registry.create(tps(number=3, source="whip"), ADMIN)
    statuses = await registry.statuses([camera, disabled, whip])
    assert [statuses[c.id]["state"] for c in (camera, disabled, whip)] == ["connecting", "disabled", "waiting"]
    await registry.set_status(camera.id, {"state": "online", "codec": "h264", "mode": "passthrough"})
    assert (await registry.statuses([camera]))[camera.id]["state"] == "online"
    await registry.delete(camera.id, ADMIN)
    assert not await registry.redis.hexists(keys.STATUS, camera.id)


async def test_mirror_recovers_when_changes_were_trimmed(registry: Registry, registry_redis):
    other = Registry(registry_redis, REGIONS)
    await other.sync()
    await registry.create(tps(number=1), ADMIN)
    await registry_redis.delete(keys.CHANGES)  # as if the change stream was trimmed
    await registry.create(tps(number=2), ADMIN)
    assert set((await other.sync()).cameras) == {"3171011001001", "3171011001002"}


async def test_all_keys_share_one_hash_tag(registry: Registry, registry_redis):
    await registry.create(tps(), ADMIN)
    await seed_demo_once(registry)
    assert all(k.startswith("{pantau}:") for k in await registry_redis.keys("*"))


async def test_privacy_masks_are_stored_and_seen_by_every_process(registry: Registry, registry_redis):
    """A camera's masks (pantau/cameras/masks.py) go through the registry whole, in order."""
    other = Registry(registry_redis, REGIONS)
    await other.sync()
    masks = [{"kind": "fill", "points": [[0.7, 0.0], [1.0, 0.0], [1.0, 0.3], [0.7, 0.3]]},
             {"kind": "blur", "points": [[0.0, 0.5], [0.2, 0.5], [0.1, 1.0]]}]
    first = await registry.create(tps(masks=masks), ADMIN)
    assert (await other.get(first.id)).masks == masks
    fewer = validate_camera({**first.to_stored(), "masks": masks[1:]}, REGIONS, stored=first)
    await registry.replace(fewer, ADMIN, expected=first)
    assert (await other.get(first.id)).masks == masks[1:]
