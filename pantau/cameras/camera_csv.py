"""CSV form of cameras: the JSON field names are the columns; `tags` are `;`-separated.

Errors name the file line (the header is line 1; a quoted field spanning lines counts each).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from pantau.cameras.camera import FIELDS, Camera, CameraInvalid, intended_id, validate_camera
from pantau.cameras.masks import to_compact
from pantau.cameras.regions import RegionTree

REQUIRED_COLUMNS = ("kind", "region", "source")
MAX_REPORTED_ERRORS = 1000


@dataclass
class RowError:
    line: int
    field: str
    reason: str


class ImportInvalid(ValueError):
    """The file is refused whole; `errors` names the first bad lines (up to MAX_REPORTED_ERRORS),
    `total` counts them all."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = errors[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(errors)
        first = errors[0] if errors else None
        summary = f"line {first.line}, {first.field}: {first.reason}" if first else "no detail"
        super().__init__(f"{self.total} error(s) in the CSV; first: {summary}")

    @property
    def not_listed(self) -> int:
        return self.total - len(self.errors)

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.errors]


class RowErrors:
    """The errors of one file: the first MAX_REPORTED_ERRORS kept, the rest only counted. A file
    of 20,000 bad lines has ~100,000 errors; holding them all (several imports at once) took a
    node's heap up by hundreds of MB that CPython never handed back (README, Soak)."""

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.total = 0

    def add(self, line: int, field: str, reason: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_REPORTED_ERRORS:
            self.kept.append(RowError(line, field, reason))

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportInvalid(self.kept, self.total)


@dataclass
class CsvRow:
    line: int
    values: dict[str, str]


def decode_csv(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ImportInvalid([RowError(line, "file", "the CSV must be UTF-8 text")]) from None


# A line and its end, as a file opened with newline="" splits them (\r\n, \r or \n).
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The text's lines one at a time: io.StringIO would first copy the whole file at 4 bytes a
    character."""
    return (match.group() for match in _LINE.finditer(text))


def iter_rows(text: str, errors: RowErrors) -> Iterator[CsvRow]:
    """The file's rows one at a time (so no more than one is held while it is checked); a bad
    header raises ImportInvalid at once, a bad line is added to `errors` and skipped."""
    reader = csv.reader(_lines(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportInvalid([RowError(1, "file", "the CSV is empty; the first line must name the columns")]) from None
    except csv.Error as exc:
        raise ImportInvalid([RowError(1, "file", f"unreadable CSV header ({exc})")]) from None
    columns = [c.strip() for c in header]
    header_errors = [RowError(1, c or "(empty)", f"unknown column; known columns: {', '.join(FIELDS)}") for c in columns if c not in FIELDS]
    header_errors += [RowError(1, c, "column appears twice") for c in sorted({c for c in columns if columns.count(c) > 1})]
    header_errors += [RowError(1, c, "required column is missing") for c in REQUIRED_COLUMNS if c not in columns]
    if header_errors:
        raise ImportInvalid(header_errors)

    next_line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(next_line, "file", f"unreadable CSV ({exc})")
            return
        line, next_line = next_line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) != len(columns):
            errors.add(line, "file", f"{len(cells)} cells where the header has {len(columns)} columns")
            continue
        yield CsvRow(line, {col: cell.strip() for col, cell in zip(columns, cells)})


@dataclass
class ValidRows:
    cameras: list[Camera]
    lines: list[int]  # the file line of each camera
    rows: int  # data rows read
    created: int
    updated: int


def validate_rows(
    rows: Iterable[CsvRow], regions: RegionTree, current: dict[str, Camera], upsert: bool,
    progress: Callable[[int], None] | None = None, errors: RowErrors | None = None,
) -> ValidRows:
    """Validate every row against `current`; return the cameras or raise ImportInvalid naming
    the bad lines (those already in `errors` too). Create-only mode refuses ids that exist."""
    errors = errors if errors is not None else RowErrors()
    valid = ValidRows([], [], 0, 0, 0)
    first_line_of: dict[str, int] = {}
    for row in rows:
        if progress and valid.rows % 1000 == 0:
            progress(valid.rows)
        valid.rows += 1
        values = {k: v for k, v in row.values.items() if v != ""}
        stored = current.get(intended_id(values) or "") if upsert else None
        try:
            camera = validate_camera(values, regions, stored=stored)
        except CameraInvalid as exc:
            for e in exc.errors:
                errors.add(row.line, e.field, e.reason)
            continue
        if camera.id in first_line_of:
            errors.add(row.line, "id", f"id {camera.id!r} already appears on line {first_line_of[camera.id]}")
            continue
        first_line_of[camera.id] = row.line
        if camera.id in current:
            if not upsert:
                errors.add(row.line, "id", f"a camera with id {camera.id!r} already exists (use mode=upsert to update)")
                continue
            valid.updated += 1
        else:
            valid.created += 1
        if not errors.total:  # once the file is refused, its cameras are not needed
            valid.cameras.append(camera)
            valid.lines.append(row.line)
    if progress:
        progress(valid.rows)
    errors.raise_if_any()
    return valid


def validate_csv(
    text: str, regions: RegionTree, current: dict[str, Camera], upsert: bool,
    progress: Callable[[int], None] | None = None,
) -> ValidRows:
    """Read and check the file in one pass, a row at a time: the file's text and the valid
    cameras are all that is held, whatever the number of bad lines."""
    errors = RowErrors()
    return validate_rows(iter_rows(text, errors), regions, current, upsert, progress, errors)


def cameras_to_csv(cameras: list[dict]) -> str:
    """Cameras (admin JSON form, secrets masked) as CSV with the import's columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for cam in cameras:
        row = []
        for column in FIELDS:
            value = cam.get(column)
            if column in ("tags", "public_windows"):
                value = ";".join(value or [])
            elif column == "masks":
                value = to_compact(value or [])
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append("" if value is None else value)
        writer.writerow(row)
    return out.getvalue()
