"""CSV form of cameras: the JSON field names are the columns; `tags` are `;`-separated.

Errors name the file line (the header is line 1; a quoted field spanning lines counts each).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
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
    """The file is refused whole; `errors` names every bad line (up to MAX_REPORTED_ERRORS)."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = errors[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(errors)
        first = errors[0] if errors else None
        summary = f"line {first.line}, {first.field}: {first.reason}" if first else "no detail"
        super().__init__(f"{self.total} error(s) in the CSV; first: {summary}")

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.errors]


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


def parse_csv(text: str) -> list[CsvRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportInvalid([RowError(1, "file", "the CSV is empty; the first line must name the columns")]) from None
    except csv.Error as exc:
        raise ImportInvalid([RowError(1, "file", f"unreadable CSV header ({exc})")]) from None
    columns = [c.strip() for c in header]
    errors = [RowError(1, c or "(empty)", f"unknown column; known columns: {', '.join(FIELDS)}") for c in columns if c not in FIELDS]
    errors += [RowError(1, c, "column appears twice") for c in sorted({c for c in columns if columns.count(c) > 1})]
    errors += [RowError(1, c, "required column is missing") for c in REQUIRED_COLUMNS if c not in columns]
    if errors:
        raise ImportInvalid(errors)

    rows: list[CsvRow] = []
    next_line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(next_line, "file", f"unreadable CSV ({exc})"))
            break
        line, next_line = next_line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) != len(columns):
            errors.append(RowError(line, "file", f"{len(cells)} cells where the header has {len(columns)} columns"))
            continue
        rows.append(CsvRow(line, {col: cell.strip() for col, cell in zip(columns, cells)}))
    if errors:
        raise ImportInvalid(errors)
    return rows


def validate_rows(
    rows: list[CsvRow], regions: RegionTree, current: dict[str, Camera], upsert: bool,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Camera], int, int]:
    """Validate every row against `current`; return (cameras, created, updated) or raise
    ImportInvalid naming every bad line. Create-only mode refuses ids that exist."""
    errors: list[RowError] = []
    cameras: list[Camera] = []
    first_line_of: dict[str, int] = {}
    created = updated = 0
    for index, row in enumerate(rows):
        if progress and index % 1000 == 0:
            progress(index)
        values = {k: v for k, v in row.values.items() if v != ""}
        stored = current.get(intended_id(values) or "") if upsert else None
        try:
            camera = validate_camera(values, regions, stored=stored)
        except CameraInvalid as exc:
            errors.extend(RowError(row.line, e.field, e.reason) for e in exc.errors)
            continue
        if camera.id in first_line_of:
            errors.append(RowError(row.line, "id", f"id {camera.id!r} already appears on line {first_line_of[camera.id]}"))
            continue
        first_line_of[camera.id] = row.line
        if camera.id in current:
            if not upsert:
                errors.append(RowError(row.line, "id", f"a camera with id {camera.id!r} already exists (use mode=upsert to update)"))
                continue
            updated += 1
        else:
            created += 1
        cameras.append(camera)
    if progress:
        progress(len(rows))
    if errors:
        raise ImportInvalid(errors)
    return cameras, created, updated


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
