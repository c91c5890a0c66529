"""The tamper checks (ingest/picture/tamper_checks.py, ingest/picture/picture_health.py) on real decoded
keyframes: a drawn polling station through libx264 and back, the reference taken from the JPEG
tile as the admin API takes it. The GStreamer cameras of tests/test_tamper_cameras.py check the
same end to end."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ingest.picture.picture_health import PictureHealth
from ingest.picture.tamper_checks import TamperChecks, TamperLimits, correlations, structured
from pantau.media.view_signature import GRID, ViewSignature, thumbnail
from tests.support import scenes

ROOM = scenes.polling_station()


def camera(image: np.ndarray, second: int = 0) -> np.ndarray:
    """What the camera sends: grain, its clock overlay, H.264."""
    return scenes.as_keyframe(scenes.with_clock(scenes.with_grain(image, seed=second), second))


def signature(image: np.ndarray) -> ViewSignature:
    return ViewSignature.of(thumbnail(image))


def reference_of(image: np.ndarray) -> ViewSignature:
    """As POST /api/admin/cameras/{id}/reference takes it: from the JPEG tile."""
    tile = cv2.imdecode(np.frombuffer(scenes.as_tile_jpeg(image), np.uint8), cv2.IMREAD_COLOR)
    return signature(tile)


@pytest.fixture(scope="module")
def reference() -> ViewSignature:
    return reference_of(camera(ROOM))


def watched(reference: ViewSignature | None, warm_up: int = 4) -> PictureHealth:
    """A camera's health after a few ok keyframes of the room (it has learned its view)."""
    health = PictureHealth()
    health.set_reference(reference)
    for second in range(warm_up):
        assert health.observe(camera(ROOM, second)) == "ok"
    return health


def judged(health: PictureHealth, image: np.ndarray, keyframes: int = 2, start: int = 10) -> list[str | None]:
    return [health.observe(camera(image, start + 2 * n)) for n in range(keyframes)]


def test_the_reference_from_the_jpeg_tile_measures_like_the_keyframe(reference):
    keyframe = signature(camera(ROOM, 1))
    cells = structured(reference, TamperChecks().limits)
    assert cells.sum() >= 40  # a room has edges in most cells
    assert (correlations(keyframe, reference)[cells] > 0.8).mean() > 0.95
    detailed = cells & (reference.cell_sharpness >= TamperChecks().limits.detail_floor)
    assert detailed.sum() >= 20
    ratio = np.median(keyframe.cell_sharpness[detailed] / reference.cell_sharpness[detailed])
    assert 0.8 < ratio < 1.25


def test_the_signature_is_small_and_survives_storage(reference):
    stored = reference.to_json()
    assert len(stored["small_png"]) + len(stored["cells"]) < 16_000
    again = ViewSignature.from_json(stored)
    assert np.array_equal(again.small, reference.small)
    assert np.allclose(again.cell_mean, reference.cell_mean, rtol=0.01, atol=0.1)
    assert np.allclose(again.cell_sharpness, reference.cell_sharpness, rtol=0.01, atol=0.01)
    for broken in ({}, {**stored, "version": 99}, {**stored, "cells": "AAAA"}, {**stored, "small_png": "bm90IGEgcG5n"}):
        with pytest.raises(ValueError):
            ViewSignature.from_json(broken)


@pytest.mark.parametrize("what, image", [
    ("a person on the left", scenes.with_person(ROOM, 300, 450)),
    ("a person in the middle", scenes.with_person(ROOM, 640, 450)),
    ("two people", scenes.with_person(scenes.with_person(ROOM, 250, 430), 900, 470)),
    ("lights dimmed to half", scenes.lit(ROOM, 0.5)),
    ("lights brighter", scenes.lit(ROOM, 1.3)),
])
def test_people_and_light_raise_nothing(reference, what, image):
    health = watched(reference)
    assert judged(health, image, keyframes=3) == ["ok", "ok", "ok"], what


@pytest.mark.parametrize("what, image, kind", [
    ("turned by 15 %", scenes.turned(ROOM, 0.15), "moved"),
    ("turned by 5 %", scenes.turned(ROOM, 0.05), "moved"),
    ("another room", scenes.polling_station(seed=3, width=scenes.WIDTH)[:, ::-1], "moved"),
    ("turned to a bare wall", scenes.a_wall(ROOM), "moved"),
    ("defocused", scenes.defocused(ROOM, 4), "blurred"),
    ("defocused a lot", scenes.defocused(ROOM, 8), "blurred"),
    ("a flag over 58 %", scenes.with_box(ROOM, 0.7, 0.83), "obstructed"),
    ("a hand at the lens", scenes.hand_at_the_lens(ROOM), "obstructed"),
    ("covered, the clock still drawn", scenes.covered(ROOM), "black"),
    ("covered with something white", scenes.covered(ROOM, 200), "black"),
])
def test_each_tamper_is_named_from_the_second_keyframe(reference, what, image, kind):
    health = watched(reference)
    assert judged(health, image) == ["ok", kind], what


def test_the_most_telling_signal_wins(reference):
    """A flag over 58 % of the view also breaks the match of the cells it covers (the moved check
    alone would fire): obstructed. Then covered whole: black. Turned as well as obstructed, the
    rest of the picture is not the view either: moved."""
    flag = scenes.with_box(ROOM, 0.7, 0.83)
    for limits in (TamperLimits(), TamperLimits(obstructed_from=0.99)):  # a camera without a learned view yet
        checks = TamperChecks(limits)
        checks.reference = reference
        assert checks.judge(signature(camera(flag))) == ("obstructed" if limits.obstructed_from < 0.9 else "moved")
    health = watched(reference)
    assert judged(health, flag) == ["ok", "obstructed"]
    assert judged(health, scenes.covered(ROOM), start=20) == ["obstructed", "black"]
    assert judged(health, ROOM, start=30) == ["black", "ok"]  # back to ok on two keyframes too
    health = watched(reference)
    assert judged(health, scenes.with_box(scenes.turned(ROOM, 0.15), 0.7, 0.83)) == ["ok", "moved"]


def test_one_odd_keyframe_changes_nothing(reference):
    health = watched(reference)
    for odd in (scenes.turned(ROOM, 0.15), scenes.defocused(ROOM, 6), scenes.covered(ROOM)):
        assert health.observe(camera(odd, 20)) == "ok"
        assert health.observe(camera(ROOM, 22)) == "ok"
    moved = judged(health, scenes.turned(ROOM, 0.15), start=30)
    assert moved == ["ok", "moved"]
    assert health.observe(camera(ROOM, 40)) == "moved"  # one good keyframe does not clear it either


def test_without_a_reference_moved_and_blurred_are_not_judged_but_obstruction_is():
    health = watched(None)
    assert judged(health, scenes.turned(ROOM, 0.15), keyframes=3) == ["ok", "ok", "ok"]
    health = watched(None)
    assert judged(health, scenes.defocused(ROOM, 6), keyframes=3) == ["ok", "ok", "ok"]
    health = watched(None)
    assert judged(health, scenes.with_box(ROOM, 0.7, 0.83)) == ["ok", "obstructed"]


def test_an_obstruction_stays_until_it_goes(reference):
    """While obstructed nothing is learned, so the obstruction never becomes the normal view."""
    health = watched(reference)
    flag = scenes.with_box(ROOM, 0.7, 0.83)
    assert judged(health, flag, keyframes=30)[-1] == "obstructed"
    health.set_reference(None)  # even without the reference, against the learned view
    assert judged(health, flag, keyframes=5, start=100)[-1] == "obstructed"
    assert judged(health, ROOM, start=200) == ["obstructed", "ok"]


def test_a_view_without_structure_is_not_judged_moved():
    """A dark scene with a small moving ball and a clock (videotestsrc pattern=ball): nothing
    to recognise a view by, so neither moved nor obstructed, wherever the ball is."""
    def ball_scene(second: int) -> np.ndarray:
        image = np.zeros((scenes.HEIGHT, scenes.WIDTH, 3), np.uint8)
        x = int(640 + 560 * np.sin(second * 0.9))
        y = int(360 + 300 * np.cos(second * 1.3))
        cv2.circle(image, (x, y), 20, (255, 255, 255), -1)
        return scenes.with_clock(image, second)

    health = PictureHealth()
    health.set_reference(reference_of(scenes.as_keyframe(ball_scene(0))))
    pictures = [health.observe(scenes.as_keyframe(ball_scene(second))) for second in range(0, 60, 2)]
    assert set(pictures) == {"ok"}


def test_the_grid_covers_any_aspect_ratio():
    portrait = cv2.resize(ROOM, (720, 1280))
    view = signature(scenes.as_keyframe(portrait))
    assert view.cell_mean.shape == (GRID[1], GRID[0]) and view.small.shape == (90, 160)


def test_the_settings_defaults_are_the_checks_defaults():
    """ingest.picture.* (pantau/runtime/config.py) reach the checks unchanged: the defaults agree."""
    from ingest.picture.picture_health import HealthThresholds
    from ingest.worker import health_thresholds
    from pantau.runtime.config import IngestSettings, PictureSettings

    assert health_thresholds(IngestSettings()) == HealthThresholds()
    custom = health_thresholds(IngestSettings(picture=PictureSettings(sustain_keyframes=3, moved_below=0.3, tamper_checks=False)))
    assert (custom.sustain, custom.tamper.moved_below, custom.tamper_checks) == (3, 0.3, False)
