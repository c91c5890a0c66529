"""The restream fields of a camera: an rtmp(s):// destination checked like a source, and its
stream key, a write-only secret (masked like a password, kept by `***` only for the same host)."""

from __future__ import annotations

import pytest

from pantau.access.redaction import known_secrets, redact
from pantau.cameras import audit_log
from pantau.cameras.audit_log import Actor
from pantau.cameras.camera import CameraInvalid, admin_view, apply_patch, public_view, validate_camera
from pantau.cameras.camera_csv import cameras_to_csv
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry, effective_status

KEY = "abcd-efgh-ijkl-mnop-q7r8"
BASE = {"id": "cam", "kind": "tps", "region": "31.71.01.1001", "tps": 1, "source": "rtsp://10.0.0.5/stream"}


def camera(**fields):
    return validate_camera(BASE | fields, dki_regions())


def error_fields(data: dict, stored=None) -> dict[str, str]:
    with pytest.raises(CameraInvalid) as caught:
        validate_camera(data, dki_regions(), stored)
    return {e.field: e.reason for e in caught.value.errors}


def test_a_destination_and_key_are_stored_and_the_key_is_masked_everywhere_it_leaves():
    cam = camera(restream_url="rtmps://a.rtmps.youtube.com/live2", restream_key=KEY)
    assert (cam.restream_url, cam.restream_key) == ("rtmps://a.rtmps.youtube.com/live2", KEY)
    view = admin_view(cam, {"state": "online", "restream": {"state": "live", "reason": None, "since": None}})
    assert view["restream_key"] == "***" and view["restream_url"] == "rtmps://a.rtmps.youtube.com/live2"
    assert view["status"]["restream"]["state"] == "live"
    assert KEY not in repr(view) and KEY not in cameras_to_csv([view])
    public = public_view(cam, dki_regions(), {"state": "online", "restream": {"state": "live"}})
    assert "restream" not in public["status"] and "restream_url" not in public and KEY not in repr(public)
    assert KEY in cam.secrets()


@pytest.mark.parametrize(("url", "says"), [
    ("http://example.com/live", "rtmp:// or rtmps://"),
    ("rtmp:///live", "no host"),
    ("rtmp://user:pw@example.com/live", "restream_key"),
    ("rtmp://exa mple.com/live", "spaces"),
    ("rtmp://169.254.169.254/live", "source policy"),
    ("rtmp://example.com:99999/live", "malformed"),
    (42, "rtmp:// or rtmps://"),
])
def test_a_bad_destination_is_refused_naming_restream_url(url, says):
    errors = error_fields(BASE | {"restream_url": url, "restream_key": KEY})
    assert says in errors["restream_url"]
    assert all(KEY not in reason for reason in errors.values())


def test_a_key_needs_a_url_and_must_be_one_word():
    assert "needs restream_url" in error_fields(BASE | {"restream_key": KEY})["restream_key"]
    reason = error_fields(BASE | {"restream_url": "rtmp://10.1.1.1/live", "restream_key": KEY + " x"})["restream_key"]
    assert "without spaces" in reason and KEY not in reason


def test_the_mask_keeps_the_stored_key_only_for_the_same_scheme_host_and_port():
    stored = camera(restream_url="rtmp://10.1.1.1/live", restream_key=KEY)
    renamed = validate_camera(apply_patch(stored, {"name": "Renamed"}), dki_regions(), stored)
    assert renamed.restream_key == KEY  # the admin JSON sent back as it was: `***` keeps it
    other_app = validate_camera(apply_patch(stored, {"restream_url": "rtmp://10.1.1.1:1935/other"}), dki_regions(), stored)
    assert other_app.restream_key == KEY  # same origin (1935 is rtmp's default port)
    moved = error_fields(apply_patch(stored, {"restream_url": "rtmp://10.9.9.9/live"}), stored)
    assert "type the stream key again" in moved["restream_key"]
    assert "no stored stream key" in error_fields(BASE | {"restream_url": "rtmp://10.1.1.1/live", "restream_key": "***"})["restream_key"]
    replaced = validate_camera(apply_patch(stored, {"restream_url": "rtmp://10.9.9.9/live", "restream_key": "new-key-0001"}),
                               dki_regions(), stored)
    assert replaced.restream_key == "new-key-0001"
    cleared = validate_camera(apply_patch(stored, {"restream_url": None, "restream_key": None}), dki_regions(), stored)
    assert (cleared.restream_url, cleared.restream_key) == (None, None)


async def test_the_audit_entry_and_the_log_redactor_never_show_the_key(registry: Registry):
    cam = camera(restream_url="rtmp://10.1.1.1/live", restream_key=KEY)
    await registry.create(cam, Actor("test", "127.0.0.1"))
    changed = validate_camera(apply_patch(cam, {"restream_key": "second-key-9911"}), dki_regions(), cam)
    await registry.replace(changed, Actor("test", "127.0.0.1"), cam)
    entries = repr(await audit_log.read(registry.redis))
    assert "restream_url" in entries and KEY not in entries and "second-key-9911" not in entries
    assert KEY in known_secrets._words
    assert KEY not in redact(f"Broken pipe: 'rtmp://10.1.1.1/live/{KEY}'")



def test_a_restream_status_is_dropped_once_nothing_restreams_the_camera():
    reported = {"state": "online", "restream": {"state": "live", "reason": None, "since": "2026-12-07T06:00:00Z"}}
    cam = camera(restream_url="rtmp://10.1.1.1/live", restream_key=KEY)
    assert effective_status(cam, dict(reported))["restream"]["state"] == "live"
    cam.enabled = False
    assert effective_status(cam, dict(reported))["restream"] == {"state": "off", "reason": None, "since": None}
    assert "restream" not in effective_status(camera(), dict(reported))  # destination removed
