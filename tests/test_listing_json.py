"""A listing's JSON from cached per-camera text is exactly what encoding it whole gives."""

import json

from pantau.cameras.camera import public_view, validate_camera
from pantau.cameras.regions import dki_regions
from relay.api.listing_json import ListingJson

REGIONS = dki_regions()


def reference(page, statuses, viewers, total, next_cursor) -> str:
    """The body as the listing built it before: one json.dumps of everything."""
    cameras = [public_view(c, REGIONS, statuses[c.id]) | {"viewers": viewers[c.id]} for c in page]
    return json.dumps({"cameras": cameras, "total": total, "next_cursor": next_cursor})


def test_same_text_as_encoding_the_whole_body_and_edits_show_at_once():
    tps = validate_camera({"kind": "tps", "region": "31.71.01.1001", "tps": 7, "source": "demo", "name": "TPS 7 — aula \"Ñ\"", "tags": ["a", "é"]}, REGIONS)
    recap = validate_camera({"kind": "recap", "region": "31.71.01", "source": "whip", "public": False, "enabled": False}, REGIONS)
    statuses = {tps.id: {"state": "online", "fps": 25.0, "codec": "h264"}, recap.id: {"state": "disabled", "reason": None}}
    viewers = {tps.id: 3, recap.id: 0}
    listing = ListingJson(REGIONS)
    for _ in range(2):  # the second time from the cache
        assert listing.body([recap, tps], statuses, viewers, 2, "Y3Vyc29y") == reference([recap, tps], statuses, viewers, 2, "Y3Vyc29y")
    assert listing.body([], {}, {}, 0, None) == reference([], {}, {}, 0, None)
    renamed = validate_camera({**tps.to_stored(), "name": "Baru", "tags": []}, REGIONS, stored=tps)  # the mirror holds a new object
    body = json.loads(listing.body([renamed], statuses, viewers, 1, None))
    assert body["cameras"][0]["name"] == "Baru" and body["cameras"][0]["tags"] == []
