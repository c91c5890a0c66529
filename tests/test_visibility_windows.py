"""Visibility windows as text (parsing, the stored form) and `publicly_visible` at given
moments; the node-level enforcement is in tests/test_visibility.py."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.cameras import visibility
from pantau.cameras.camera import Camera
from pantau.cameras.visibility import WIB, WindowInvalid, normalize_windows, public_from, publicly_visible
from pantau.runtime import clock
from pantau.runtime.config import ConfigError, load_settings
from tests.support.fuzz import fuzz

ELECTION_DAY = "2026-02-14"


def wib(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+07:00")


def camera(windows=(), public=True, kind="tps") -> Camera:
    return Camera(id="cam", kind=kind, region="31.71.01.1001", tps=1 if kind == "tps" else None, name="TPS 001",
                  source="demo", public=public, public_windows=list(windows))


@pytest.fixture(autouse=True)
def no_site_default():
    visibility.configure(SimpleNamespace(default_windows=[], recap_default_windows=[]))
    yield
    visibility.configure(SimpleNamespace(default_windows=[], recap_default_windows=[]))


@pytest.mark.parametrize("written, stored", [
    ("2026-02-14T13:00/2026-02-14T23:59", "2026-02-14T13:00+07:00/2026-02-14T23:59+07:00"),  # WIB when no offset
    ("2026-02-14T06:00Z/2026-02-14 17:00:30+00:00", "2026-02-14T13:00+07:00/2026-02-15T00:00:30+07:00"),
    ("2026-02-14T13:00+07:00/", "2026-02-14T13:00+07:00/"),
    ("/2026-02-20T00:00+07:00", "/2026-02-20T00:00+07:00"),
    ("daily 7:00 - 13:00", "daily 07:00-13:00"),
    ("Daily 13:00-24:00", "daily 13:00-24:00"),
    (" ALWAYS ", "always"),
    ({"start": "2026-02-14T13:00", "end": "2026-02-14T23:59"}, "2026-02-14T13:00+07:00/2026-02-14T23:59+07:00"),
    ({"daily": "13:00-24:00"}, "daily 13:00-24:00"),
])
def test_windows_are_stored_in_one_text_form_in_wib(written, stored):
    assert normalize_windows([written]) == [stored]


def test_the_csv_form_separates_windows_with_semicolons_and_repeats_collapse():
    assert normalize_windows("daily 13:00-24:00; 2026-02-14T13:00/;daily 13:00-24:00") == [
        "daily 13:00-24:00", "2026-02-14T13:00+07:00/"]
    assert normalize_windows("") == normalize_windows(None) == normalize_windows([]) == []


@pytest.mark.parametrize("written, says", [
    (["2026-02-14T23:59/2026-02-14T13:00"], "start must come before the end"),
    (["2026-02-14T13:00/2026-02-14T13:00"], "start must come before the end"),
    (["daily 22:00-02:00"], "past midnight is two windows"),
    (["daily 25:00-26:00"], "not a time of day"),
    (["daily 13:60-14:00"], "not a time of day"),
    (["2026-02-30T13:00/"], "start is not a date"),
    (["2026-02-14T13:00/tomorrow"], "end is not a date"),
    (["9999-12-31T23:00-05:00/"], "years 2000 to 2100"),  # was an OverflowError (a 500) moving it to WIB
    (["/0001-01-01T00:00"], "the end must lie in the years"),
    (["/"], "give a start, an end or both"),
    (["13:00-23:59"], "write START/END"),
    (["always", "daily 13:00-24:00"], "'always' stands alone"),
    ([f"daily 13:{m:02d}-14:00" for m in range(17)], "at most 16 windows"),
    ([""], "a window is a text"),
    ([{"from": "13:00"}], "a window object is"),
    ("x" * 81, "at most 80 characters"),
    ({"daily": "13:00-24:00"}, "must be a list"),
])
def test_a_wrong_window_says_what_is_wrong(written, says):
    with pytest.raises(WindowInvalid, match=says):
        normalize_windows(written)


def test_election_day_tps_camera_is_public_only_from_13_00_wib():
    tps = camera(["2026-02-14T13:00/2026-02-15T06:00"])
    assert not publicly_visible(tps, wib(f"{ELECTION_DAY}T07:00"))
    assert not publicly_visible(tps, wib(f"{ELECTION_DAY}T12:59:59"))
    assert publicly_visible(tps, wib(f"{ELECTION_DAY}T13:00"))
    assert publicly_visible(tps, datetime.fromisoformat(f"{ELECTION_DAY}T06:00:00+00:00"))  # the same moment in UTC
    assert not publicly_visible(tps, wib("2026-02-15T06:00"))  # the end is excluded
    assert public_from(tps, wib(f"{ELECTION_DAY}T08:15")) == wib(f"{ELECTION_DAY}T13:00")
    assert public_from(tps, wib(f"{ELECTION_DAY}T13:05")) is None  # visible now
    assert public_from(tps, wib("2026-02-16T00:00")) is None  # no window opens again


def test_daily_window_repeats_every_day_in_wib_whatever_the_machine_timezone():
    tps = camera(["daily 13:00-24:00"])
    assert not publicly_visible(tps, wib("2026-02-16T12:59"))
    assert publicly_visible(tps, wib("2026-02-16T23:59:59"))
    assert not publicly_visible(tps, wib("2026-02-17T00:00"))
    assert public_from(tps, wib("2026-02-17T00:30")) == wib("2026-02-17T13:00")
    assert public_from(tps, wib("2026-02-17T00:30")).utcoffset() == timedelta(hours=7)


def test_a_camera_without_windows_follows_the_site_default_for_its_kind_and_always_overrides_it():
    visibility.configure(SimpleNamespace(default_windows=[f"{ELECTION_DAY}T13:00/"], recap_default_windows=[]))
    voting = wib(f"{ELECTION_DAY}T10:00")
    assert not publicly_visible(camera(), voting)
    assert publicly_visible(camera(), wib(f"{ELECTION_DAY}T13:00"))
    assert publicly_visible(camera(kind="recap"), voting)  # recap sites: no ballot is cast there
    assert publicly_visible(camera(["always"]), voting)
    assert not publicly_visible(camera(["daily 15:00-16:00"]), wib(f"{ELECTION_DAY}T14:00"))  # its own windows win
    assert not publicly_visible(camera(["always"], public=False), voting)  # the flag comes first
    assert public_from(camera(public=False), voting) is None


def test_the_site_default_comes_from_the_config_and_a_wrong_one_names_the_option(monkeypatch):
    monkeypatch.setenv("PANTAU_VISIBILITY__DEFAULT_WINDOWS", '["2026-02-14T13:00/"]')
    settings = load_settings()
    assert settings.visibility.default_windows == ["2026-02-14T13:00+07:00/"]
    monkeypatch.setenv("PANTAU_VISIBILITY__DEFAULT_WINDOWS", '["2026-02-14T13:00/2026-02-14T12:00"]')
    with pytest.raises(ConfigError, match="visibility.default_windows.*start must come before the end"):
        load_settings()


def test_next_change_is_the_first_moment_visibility_flips():
    """Against a minute-by-minute scan of random schedules of dated and daily windows."""
    rng = random.Random(14)
    base = wib("2026-02-13T00:00").timestamp()
    for _ in range(150):
        windows = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                start = rng.randrange(0, 23 * 60)
                windows.append(f"daily {start // 60:02d}:{start % 60:02d}-{(end := rng.randrange(start + 1, 24 * 60 + 1)) // 60:02d}:{end % 60:02d}")
            else:
                start = base + rng.randrange(0, 4 * 1440) * 60
                end = start + rng.randrange(1, 3 * 1440) * 60
                windows.append(f"{datetime.fromtimestamp(start, WIB).isoformat()}/{datetime.fromtimestamp(end, WIB).isoformat()}")
        schedule = visibility.compile_windows(tuple(normalize_windows(windows)))
        t = base + rng.randrange(0, 5 * 1440) * 60
        expected = next((t + m * 60 for m in range(1, 9 * 1440) if schedule.contains(t + m * 60) != schedule.contains(t)), None)
        assert schedule.next_change(t) == expected, windows


def test_the_test_clock_file_shifts_now_and_is_read_again_when_rewritten(tmp_path, monkeypatch):
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.TEST_CLOCK_ENV, str(path))
    monkeypatch.setattr(clock, "_checked_env", False)
    assert abs(clock.now() - clock.time.time()) < 5  # no file yet: the real time
    path.write_text("86400")
    assert 86_390 < clock.now() - clock.time.time() < 86_410
    path.write_text("-3600.5")
    assert -3_610 < clock.now() - clock.time.time() < -3_590
    monkeypatch.delenv(clock.TEST_CLOCK_ENV)
    monkeypatch.setattr(clock, "_checked_env", False)
    assert abs(clock.now() - clock.time.time()) < 5


_WINDOW_PARTS = st.sampled_from(["daily ", "always", "/", "-", ":", "T", "+07:00", "Z", " ", ";", "24:00", "00:00",
                                 "2026-02-14", "9999-12-31", "0001-01-01", "13:00", "25:61", "-05:00"])


@fuzz(400)
@given(st.one_of(st.text(max_size=90), st.lists(_WINDOW_PARTS, max_size=8).map("".join),
                 st.lists(st.lists(_WINDOW_PARTS, max_size=8).map("".join), max_size=4)))
def test_any_window_text_is_stored_normalized_or_refused_by_name(text):
    """Anything a person or a CSV can write is a WindowInvalid or a stored form that reads back
    the same and compiles; never another exception (a 500)."""
    try:
        stored = normalize_windows(text)
    except WindowInvalid:
        return
    assert normalize_windows(stored) == stored
    schedule = visibility.compile_windows(tuple(stored))
    if schedule is not None:
        schedule.next_change(wib("2026-02-14T10:00").timestamp())
