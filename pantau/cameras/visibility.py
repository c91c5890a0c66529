"""Visibility windows: when a public camera may be seen by the public (ballot secrecy).

Voting (07:00-13:00 WIB) is secret and counting is public (PKPU 25/2023 art. 25, 28): a TPS
camera flagged public is shown to the public only inside its windows. Every public output asks
`publicly_visible(camera)` (listings, tiles, WHEP, HLS, SSE, the wall); operators and admins
are never asked about windows.

A camera's `public_windows` is a list of texts, the same in JSON, CSV (`;`-separated) and the
config:

- `2026-02-14T13:00+07:00/2026-02-14T23:59+07:00`: a dated window (ISO 8601 interval, start
  included, end excluded). A time without an offset is WIB; either end may be left open
  (`2026-02-14T13:00/` = from then on).
- `daily 13:00-24:00`: every day, in WIB.
- `always`: public whenever the `public` flag is on, whatever the site's default says.

An empty list follows the site's default (`visibility.default_windows` for TPS cameras,
`visibility.recap_default_windows` for recap sites); an empty default means no restriction.
Recap sites default to no restriction: no ballot is cast there and a kecamatan recap runs for
days after the vote, so a site that wants them windowed says so.

WIB is a fixed UTC+07:00 (Indonesia has had no daylight saving since 1964), so no zoneinfo is
used: slim machines and containers often lack the tz database, and a fixed offset cannot be
wrong about Asia/Jakarta.

"Now" is `pantau.runtime.clock.now()`, which tests can shift in a running node (see there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pantau.runtime import clock

if TYPE_CHECKING:
    from pantau.cameras.camera import Camera

WIB = timezone(timedelta(hours=7), "WIB")
ALWAYS = "always"
MAX_WINDOWS = 16
MAX_WINDOW_TEXT = 80
MIN_YEAR, MAX_YEAR = 2000, 2100
DAY_S = 86_400
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", re.IGNORECASE)


class WindowInvalid(ValueError):
    """A window a person wrote wrongly; the message says which one and how to write it."""


@dataclass(frozen=True)
class _Dated:
    start: float | None  # epoch seconds, included; None: open
    end: float | None  # excluded; None: open

    def contains(self, t: float) -> bool:
        return (self.start is None or self.start <= t) and (self.end is None or t < self.end)

    def boundaries(self) -> tuple[float, ...]:
        return tuple(b for b in (self.start, self.end) if b is not None)


@dataclass(frozen=True)
class _Daily:
    start: int  # seconds after 00:00 WIB, included
    end: int  # excluded; up to 86400 (24:00)

    def contains(self, t: float) -> bool:
        return self.start <= _second_of_day(t) < self.end


@dataclass(frozen=True)
class Schedule:
    """When a camera may be public. `always` or a set of windows (never empty)."""

    always: bool
    dated: tuple[_Dated, ...] = ()
    daily: tuple[_Daily, ...] = ()

    def contains(self, t: float) -> bool:
        return self.always or any(w.contains(t) for w in self.dated) or any(w.contains(t) for w in self.daily)

    def next_change(self, t: float) -> float | None:
        """The first moment after `t` when `contains` differs from `contains(t)`; None: never."""
        if self.always:
            return None
        now_in = self.contains(t)
        for boundary in self._boundaries_after(t):
            if self.contains(boundary) != now_in:
                return boundary
        return None

    def opens_at(self, t: float) -> float | None:
        """`t` if inside a window, else when the next one opens; None if none ever will."""
        return t if self.contains(t) else self.next_change(t)

    def _boundaries_after(self, t: float) -> list[float]:
        """Every moment after t where the state may change. Daily boundaries are needed only on
        days where a change can happen: today, tomorrow, and the day of a dated boundary and
        the day after it (inside a dated window the daily ones change nothing)."""
        dated = [b for w in self.dated for b in w.boundaries() if b > t]
        days = {_day_start(t), _day_start(t) + DAY_S}
        for b in dated:
            days |= {_day_start(b), _day_start(b) + DAY_S}
        daily = [day + s for day in days for w in self.daily for s in (w.start, w.end)]
        return sorted({b for b in dated + daily if b > t})


ALWAYS_SCHEDULE = Schedule(always=True)


def _second_of_day(t: float) -> float:
    return (t + 7 * 3600) % DAY_S


def _day_start(t: float) -> float:
    """The epoch second of 00:00 WIB of the day holding t."""
    return t - _second_of_day(t)


# ---- parsing ------------------------------------------------------------------------------

def _parse_moment(text: str, which: str, window: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise WindowInvalid(f"{window!r}: the {which} is not a date and time (write e.g. 2026-02-14T13:00+07:00)") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:  # (and far from datetime's limits when moved to WIB)
        raise WindowInvalid(f"{window!r}: the {which} must lie in the years {MIN_YEAR} to {MAX_YEAR}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=WIB)  # written in WIB, as the windows are
    return moment.astimezone(WIB).replace(microsecond=0)


def _wib_text(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes" if moment.second == 0 else "seconds")


def _clock_seconds(hours: str, minutes: str, window: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise WindowInvalid(f"{window!r}: {hours}:{minutes} is not a time of day (00:00 to 24:00)")
    return h * 3600 + m * 60


def normalize_window(item: Any) -> str:
    """One window in its stored text form (WIB, minutes unless seconds were given), from a text
    or from `{"start": …, "end": …}` / `{"daily": "13:00-24:00"}`; WindowInvalid if wrong."""
    if isinstance(item, dict):
        if set(item) == {"daily"} and isinstance(item["daily"], str):
            item = f"daily {item['daily']}"
        elif set(item) and set(item) <= {"start", "end"} and all(isinstance(v, str) or v is None for v in item.values()):
            item = f"{item.get('start') or ''}/{item.get('end') or ''}"
        else:
            raise WindowInvalid('a window object is {"start": ISO time, "end": ISO time} or {"daily": "HH:MM-HH:MM"}')
    if not isinstance(item, str) or not item.strip():
        raise WindowInvalid("a window is a text: START/END (ISO 8601, WIB), 'daily HH:MM-HH:MM' or 'always'")
    text = " ".join(item.split())
    if len(text) > MAX_WINDOW_TEXT:
        raise WindowInvalid(f"a window is at most {MAX_WINDOW_TEXT} characters")
    if text.lower() == ALWAYS:
        return ALWAYS
    daily = _DAILY.fullmatch(text)
    if daily:
        start, end = _clock_seconds(*daily.group(1, 2), text), _clock_seconds(*daily.group(3, 4), text)
        if start >= end:
            raise WindowInvalid(f"{text!r}: the start must come before the end (a window past midnight is two windows, "
                                "e.g. 'daily 22:00-24:00' and 'daily 00:00-02:00')")
        return f"daily {start // 3600:02d}:{start % 3600 // 60:02d}-{end // 3600:02d}:{end % 3600 // 60:02d}"
    if text.count("/") != 1:
        raise WindowInvalid(f"{text!r}: write START/END (e.g. 2026-02-14T13:00+07:00/2026-02-14T23:59+07:00), "
                            "'daily HH:MM-HH:MM' or 'always'")
    start_text, end_text = (part.strip() for part in text.split("/"))
    if not start_text and not end_text:
        raise WindowInvalid(f"{text!r}: give a start, an end or both")
    start = _parse_moment(start_text, "start", text) if start_text else None
    end = _parse_moment(end_text, "end", text) if end_text else None
    if start is not None and end is not None and start >= end:
        raise WindowInvalid(f"{text!r}: the start must come before the end")
    return f"{_wib_text(start) if start else ''}/{_wib_text(end) if end else ''}"


def normalize_windows(value: Any) -> list[str]:
    """A camera's (or the config's) windows in stored form. Accepts a list of windows or one
    text of `;`-separated windows (the CSV form); None or empty is []."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [part for part in value.split(";") if part.strip()]
    if not isinstance(value, list):
        raise WindowInvalid("must be a list of windows (CSV: windows separated by ';')")
    if len(value) > MAX_WINDOWS:
        raise WindowInvalid(f"at most {MAX_WINDOWS} windows")
    windows = list(dict.fromkeys(normalize_window(item) for item in value))
    if ALWAYS in windows and len(windows) > 1:
        raise WindowInvalid("'always' stands alone (it already covers every other window)")
    return windows


@lru_cache(maxsize=4096)
def compile_windows(windows: tuple[str, ...]) -> Schedule | None:
    """The schedule of stored windows; None for no windows (no restriction of its own). Windows
    that do not parse (a hand-edited registry) close the camera: secrecy first."""
    if not windows:
        return None
    try:
        windows = tuple(normalize_windows(list(windows)))
    except WindowInvalid:
        return Schedule(always=False)
    if ALWAYS in windows:
        return ALWAYS_SCHEDULE
    dated, daily = [], []
    for text in windows:
        if text.startswith("daily "):
            start, end = text[6:].split("-")
            daily.append(_Daily(_clock_seconds(*start.split(":"), text), _clock_seconds(*end.split(":"), text)))
        else:
            start, end = text.split("/")
            dated.append(_Dated(datetime.fromisoformat(start).timestamp() if start else None,
                                datetime.fromisoformat(end).timestamp() if end else None))
    return Schedule(always=False, dated=tuple(dated), daily=tuple(daily))


# ---- the site's defaults ------------------------------------------------------------------

@dataclass(frozen=True)
class SiteDefaults:
    tps: Schedule = ALWAYS_SCHEDULE
    recap: Schedule = ALWAYS_SCHEDULE


_site = SiteDefaults()


def configure(settings) -> SiteDefaults:
    """Take the site's defaults (pantau.runtime.config.VisibilitySettings); called by node and CLI."""
    global _site
    _site = SiteDefaults(
        tps=compile_windows(tuple(normalize_windows(settings.default_windows))) or ALWAYS_SCHEDULE,
        recap=compile_windows(tuple(normalize_windows(settings.recap_default_windows))) or ALWAYS_SCHEDULE,
    )
    return _site


# ---- what the outputs ask -----------------------------------------------------------------

def now() -> datetime:
    """The current moment in WIB (the injectable clock)."""
    return datetime.fromtimestamp(clock.now(), WIB)


def _ts(at: datetime | float | None) -> float:
    if at is None:
        return clock.now()
    return at if isinstance(at, (int, float)) else at.timestamp()


def schedule_of(camera: Camera) -> Schedule:
    own = compile_windows(tuple(camera.public_windows)) if camera.public_windows else None
    if own is not None:
        return own
    return _site.recap if camera.kind == "recap" else _site.tps


class Judge:
    """`publicly_visible` for many cameras at one moment (a listing, the wall, a sweep): the
    clock is read once and the site's defaults judged once."""

    def __init__(self, at: datetime | float | None = None):
        self.t = _ts(at)
        self._default = {"tps": _site.tps.contains(self.t), "recap": _site.recap.contains(self.t)}

    def __call__(self, camera: Camera) -> bool:
        if not camera.public:
            return False
        if not camera.public_windows:
            return self._default[camera.kind]
        return schedule_of(camera).contains(self.t)

    def default_for(self, kind: str) -> bool:
        """Whether a public camera of this kind without windows of its own is visible."""
        return self._default[kind]

    def public_from(self, camera: Camera) -> datetime | None:
        return public_from(camera, self.t)


def publicly_visible(camera: Camera, at: datetime | float | None = None) -> bool:
    """May the public see this camera now (or at `at`)? Its public flag, and inside its
    windows or the site's default for its kind. Pass one `at` for many cameras."""
    return camera.public and schedule_of(camera).contains(_ts(at))


def public_from(camera: Camera, at: datetime | float | None = None) -> datetime | None:
    """For a public camera outside its windows: when the next one opens (WIB), for "Tayang
    publik mulai 13.00 WIB". None when it is visible now, not public, or never opens again."""
    t = _ts(at)
    if not camera.public:
        return None
    schedule = schedule_of(camera)
    if schedule.contains(t):
        return None
    opens = schedule.opens_at(t)
    return None if opens is None else datetime.fromtimestamp(opens, WIB)


def next_change(camera: Camera, at: datetime | float | None = None) -> datetime | None:
    """When `publicly_visible` next flips by the clock alone (e.g. to bound a blocking HLS
    request); None if it never does. Edits of the camera change it too, of course."""
    if not camera.public:
        return None
    change = schedule_of(camera).next_change(_ts(at))
    return None if change is None else datetime.fromtimestamp(change, WIB)


def scheduled_status(camera: Camera, at: datetime | float | None = None) -> dict[str, Any]:
    """The status the public gets for a public camera outside its windows, in place of its
    real one (nothing of the picture, not even whether the camera is online): state
    `scheduled` and `public_from` (ISO, WIB; null if no window opens again)."""
    opens = public_from(camera, at)
    return {"state": "scheduled", "reason": None, "since": None, "picture": None, "codec": None, "width": None,
            "height": None, "fps": None, "bitrate_kbps": None, "mode": None, "last_keyframe_at": None,
            "audio_codec": None, "audio_level_db": None, "public_from": None if opens is None else opens.isoformat()}


def label(opens: datetime | None) -> str:
    """'Tayang publik mulai 13.00 WIB' (with the date when not today, WIB)."""
    if opens is None:
        return "Tidak tayang untuk publik saat ini"
    opens = opens.astimezone(WIB)
    when = f"{opens.hour:02d}.{opens.minute:02d} WIB"
    if opens.date() != now().date():
        when = f"{opens.day} {MONTHS[opens.month - 1]} {opens.year}, {when}"
    return f"Tayang publik mulai {when}"


MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
