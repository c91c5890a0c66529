"""Privacy masks on the camera model (issue 17 part 1): validation naming the mask, the admin
API (POST/PUT/PATCH) refusing bad masks without touching what is stored, CSV in the compact
form both ways, and the audit log saying who changed which mask."""

from __future__ import annotations

import pytest

from pantau.cameras.camera import CameraInvalid, validate_camera
from pantau.cameras.masks import MAX_MASKS, MAX_POINTS, normalize_masks, parse_compact, to_compact
from pantau.cameras.regions import dki_regions
from tests.test_api import ADMIN, api, camera  # noqa: F401  (api: the fixture)

REGIONS = dki_regions()
CORNER = {"kind": "fill", "points": [[0.7, 0.0], [1.0, 0.0], [1.0, 0.3], [0.7, 0.3]]}
BOOTH = {"kind": "blur", "points": [[0.0, 0.5], [0.25, 0.5], [0.25, 1.0], [0.0, 1.0]]}
BAD_MASKS = [
    ([CORNER, {"kind": "fill", "points": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]}], "masks[1].points", "outside the picture"),
    ([{"kind": "fill", "points": [[0.1, 0.1], [0.5, 0.5]]}], "masks[0].points", "at least 3 points"),
    ([{"kind": "fill", "points": [[0.1, 0.1], [0.5, 0.1], [0.1, 0.5], [0.5, 0.5]]}], "masks[0].points", "crosses itself"),
    ([{"kind": "blur", "points": [[i / 40, (i % 2) / 2] for i in range(MAX_POINTS + 1)]}], "masks[0].points", f"at most {MAX_POINTS}"),
    ([{"kind": "fill", "points": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.1001]]}], "masks[0].points", "no area"),
    ([{"kind": "fill", "points": [[0.1, 0.1], [0.1, 0.1], [0.5, 0.5], [0.1, 0.5]]}], "masks[0].points", "same corner"),
    ([{"kind": "fill", "points": [[0.1, 0.1], [0.5, 0.1], [0.3, 0.1], [0.3, 0.5]]}], "masks[0].points", "fold back"),
    ([{"kind": "paint", "points": CORNER["points"]}], "masks[0].kind", "blur"),
    ([{"kind": "fill", "points": [[0.1, "a"], [0.5, 0.1], [0.3, 0.5]]}], "masks[0].points", "two finite numbers"),
    ([{"kind": "fill", "points": [[0.1, True], [0.5, 0.1], [0.3, 0.5]]}], "masks[0].points", "two finite numbers"),
    ([{"kind": "fill", "points": [[10**400, 0.1], [0.5, 0.1], [0.3, 0.5]]}], "masks[0].points", "two finite numbers"),
    ([CORNER, {"kind": "fill", "points": CORNER["points"], "colour": "red"}], "masks[1].colour", "unknown field"),
    ([CORNER] * (MAX_MASKS + 1), "masks", f"at most {MAX_MASKS}"),
    ({"kind": "fill"}, "masks", "list"),
]


def camera_fields(data) -> dict[str, str]:
    with pytest.raises(CameraInvalid) as info:
        validate_camera(data, REGIONS)
    return {e.field: e.reason for e in info.value.errors}


@pytest.mark.parametrize("masks, field, reason", BAD_MASKS)
def test_a_bad_mask_is_refused_naming_it(masks, field, reason):
    errors = camera_fields({"kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": "demo", "masks": masks})
    assert list(errors) == [field] and reason in errors[field]


def test_good_masks_are_kept_in_order_rounded():
    masks = normalize_masks([BOOTH, {"kind": "fill", "points": [[0.123456, 0], [1, 0], [1, 1 / 3]]}])
    assert masks == [BOOTH, {"kind": "fill", "points": [[0.1235, 0.0], [1.0, 0.0], [1.0, 0.3333]]}]
    # A concave polygon (an L around a booth) is fine; only crossing edges are not.
    assert normalize_masks([{"kind": "fill", "points": [[0, 0], [0.5, 0], [0.5, 0.2], [0.2, 0.2], [0.2, 0.6], [0, 0.6]]}])
    assert normalize_masks(None) == normalize_masks("") == normalize_masks([]) == []


def test_the_compact_csv_form_round_trips():
    text = to_compact([CORNER, BOOTH])
    assert text == "fill:0.7,0 1,0 1,0.3 0.7,0.3;blur:0,0.5 0.25,0.5 0.25,1 0,1"
    assert normalize_masks(parse_compact(text)) == [CORNER, BOOTH]
    camera = validate_camera({"kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": "demo", "masks": text}, REGIONS)
    assert camera.masks == [CORNER, BOOTH]
    assert "masks[1].points" in camera_fields({"kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": "demo",
                                               "masks": "fill:0.7,0 1,0 1,0.3;blur:0,0 x 1,1"})


async def test_the_admin_api_refuses_bad_masks_and_keeps_what_is_stored(api):  # noqa: F811
    _, created = await api.call("POST", "/api/admin/cameras", 201, json=camera(1, masks=[CORNER]), headers=ADMIN)
    assert created["masks"] == [CORNER]
    path = f"/api/admin/cameras/{created['id']}"
    for masks, field, reason in BAD_MASKS:
        _, body = await api.call("PATCH", path, 422, json={"masks": masks}, headers=ADMIN)
        assert body["errors"][0]["field"] == field and reason in body["errors"][0]["reason"], body
        _, body = await api.call("PUT", path, 422, json={**camera(1), "masks": masks}, headers=ADMIN)
        assert body["errors"][0]["field"] == field
        _, body = await api.call("POST", "/api/admin/cameras", 422, json=camera(2, masks=masks), headers=ADMIN)
        assert body["errors"][0]["field"] == field
    _, stored = await api.call("GET", path, 200, headers=ADMIN)
    assert stored["masks"] == [CORNER]
    _, listing = await api.call("GET", "/api/admin/cameras", 200, headers=ADMIN)
    assert listing["total"] == 1
    _, replaced = await api.call("PATCH", path, 200, json={"masks": [CORNER, BOOTH]}, headers=ADMIN)
    assert replaced["masks"] == [CORNER, BOOTH]
    _, cleared = await api.call("PUT", path, 200, json={**camera(1), "masks": []}, headers=ADMIN)
    assert cleared["masks"] == []
    _, public = await api.call("GET", f"/api/cameras/{created['id']}", 200)
    assert "masks" not in public  # where the booth is is nobody else's business


async def test_masks_in_csv_export_and_import(api):  # noqa: F811
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1, masks=[CORNER, BOOTH]), headers=ADMIN)
    _, csv_text = await api.call("GET", "/api/admin/cameras.csv", 200, headers=ADMIN)
    assert '"fill:0.7,0 1,0 1,0.3 0.7,0.3;blur:0,0.5 0.25,0.5 0.25,1 0,1"' in csv_text
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"masks": []}, headers=ADMIN)
    _, result = await api.call("POST", "/api/admin/cameras/import?mode=upsert", 200, data=csv_text,
                               headers={**ADMIN, "Content-Type": "text/csv"})
    assert result["updated"] == 1
    _, stored = await api.call("GET", "/api/admin/cameras/3171011001001", 200, headers=ADMIN)
    assert stored["masks"] == [CORNER, BOOTH]
    bad = csv_text.replace("0.7,0.3;", "0.7,1.5;")
    _, refused = await api.call("POST", "/api/admin/cameras/import?mode=upsert", 422, data=bad,
                                headers={**ADMIN, "Content-Type": "text/csv"})
    assert [(e["line"], e["field"]) for e in refused["errors"]] == [(2, "masks[0].points")]


async def test_the_audit_log_says_who_changed_which_mask(api):  # noqa: F811
    await api.call("POST", "/api/admin/cameras", 201, json=camera(1), headers=ADMIN)
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"masks": [CORNER]}, headers=ADMIN)
    await api.call("PATCH", "/api/admin/cameras/3171011001001", 200, json={"masks": [CORNER, BOOTH]}, headers=ADMIN)
    _, audit = await api.call("GET", "/api/admin/audit?limit=2", 200, headers=ADMIN)
    latest, before = audit["entries"]
    assert latest["actor"] == "env:admin" and latest["camera"] == "3171011001001"
    assert latest["details"]["changes"]["masks"] == [[CORNER], [CORNER, BOOTH]]
    assert before["details"]["changes"]["masks"] == [[], [CORNER]]
