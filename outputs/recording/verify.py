"""Verifying recordings offline: segments, chain and signatures, naming exactly what is wrong and
where (`pantau verify DIR|ZIP|URL [--from --to]`).

Works on a recordings directory (every camera in it), one camera's directory, or an export zip
(or its URL), which has the same layout. What it checks, per camera:
* every chain line is JSON of this camera, numbered in order, and names the hash of the line
  before it (a changed, removed, inserted or reordered entry breaks it there);
* every segment in the range that no `deleted` entry names exists with the size and SHA-256 its
  entry records (a changed byte, a deleted or a swapped file is named, with the seq and file);
* no file in segments/ is unknown to the chain;
* every signature verifies, with a trusted key, over the exact line it names; entries after the
  last signature are reported as unsigned (written after the last signing: a crash), not failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from outputs.recording.chain import CHAIN_FILE, GENESIS, PUBLIC_KEY_FILE, SEGMENTS_DIR, SIGNATURES_FILE, Entry, read_entries
from outputs.recording.retention import deleted_seqs
from outputs.recording.segment_files import TEMP_SUFFIX
from outputs.recording.site_key import fingerprint, load_public, signature_valid

RANGE_FILE = "range.json"  # in an export: its range and the seqs of the segment files it holds


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cameras: int = 0
    segments_checked: int = 0
    bytes_checked: int = 0
    entries: int = 0
    signatures: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(target: str, start: float | None = None, end: float | None = None, keys: list[Path] | None = None) -> Report:
    if target.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.zip"
            with urllib.request.urlopen(target, timeout=60) as response, open(path, "wb") as out:  # noqa: S310 (the user's URL)
                while block := response.read(1 << 20):
                    out.write(block)
            return verify(str(path), start, end, keys)
    path = Path(target)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
            archive.extractall(tmp)
            return verify_dir(Path(tmp), start, end, keys)
    if not path.is_dir():
        return Report(problems=[f"{target}: not a recordings directory, an export zip or a URL"])
    return verify_dir(path, start, end, keys)


def verify_dir(root: Path, start: float | None, end: float | None, keys: list[Path] | None) -> Report:
    report = Report()
    if (root / CHAIN_FILE).exists():  # one camera's directory
        camera_dirs, key_dir = [root], root.parent
    else:
        camera_dirs, key_dir = sorted(p for p in root.iterdir() if (p / CHAIN_FILE).exists()), root
    if not camera_dirs:
        report.problems.append(f"{root}: no {CHAIN_FILE} found (not a recordings directory)")
        return report
    trusted = _trusted_keys(keys or [key_dir / PUBLIC_KEY_FILE], report)
    included = _export_seqs(root)  # an export: exactly the segment files it says it holds
    for camera_dir in camera_dirs:
        report.cameras += 1
        _verify_camera(camera_dir, start, end, trusted, report, included)
    return report


def _trusted_keys(paths: list[Path], report: Report) -> dict:
    trusted = {}
    for path in paths:
        try:
            key = load_public(path.read_bytes())
        except (OSError, ValueError) as exc:
            report.problems.append(f"public key {path}: cannot be read ({exc})")
            continue
        trusted[fingerprint(key)] = key
    return trusted


def _export_seqs(root: Path) -> set[int] | None:
    try:
        return {int(seq) for seq in json.loads((root / RANGE_FILE).read_text())["seqs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _verify_camera(camera_dir: Path, start: float | None, end: float | None, trusted: dict, report: Report,
                   included: set[int] | None) -> None:
    camera_id = camera_dir.name
    entries = read_entries(camera_dir / CHAIN_FILE)
    report.entries += len(entries)
    by_seq = _check_links(camera_id, entries, report)
    _check_segments(camera_id, camera_dir, entries, start, end, report, included)
    _check_signatures(camera_id, camera_dir, entries, by_seq, trusted, report)


def _check_links(camera_id: str, entries: list[Entry], report: Report) -> dict[int, Entry]:
    by_seq: dict[int, Entry] = {}
    previous: Entry | None = None
    for index, entry in enumerate(entries):
        where = f"{camera_id} chain line {index + 1}"
        fields = entry.fields
        if not fields:
            report.problems.append(f"{where}: not valid JSON")
            previous = entry
            continue
        where = f"{camera_id} seq {fields.get('seq')}"
        if fields.get("camera") != camera_id:
            report.problems.append(f"{where}: names camera {fields.get('camera')!r}, not {camera_id!r}")
        if previous is None:
            if fields.get("seq") == 0 and fields.get("prev") != GENESIS:
                report.problems.append(f"{where}: the first entry must follow {GENESIS[:8]}... (genesis)")
        else:
            if previous.fields and fields.get("seq") != previous.fields.get("seq", -2) + 1:
                report.problems.append(f"{where}: follows seq {previous.fields.get('seq')} (entries removed, inserted or reordered)")
            if fields.get("prev") != previous.hash:
                report.problems.append(f"{where}: its prev hash is not the hash of the line before it "
                                       f"(seq {previous.fields.get('seq')}): that line or this one was changed, or lines were removed or swapped")
        if fields.get("kind") in ("segment", "gap") and fields.get("start", "") > fields.get("end", ""):
            report.problems.append(f"{where}: ends before it starts")
        if isinstance(fields.get("seq"), int):
            by_seq[fields["seq"]] = entry
        previous = entry
    return by_seq


def _check_segments(camera_id: str, camera_dir: Path, entries: list[Entry], start: float | None, end: float | None,
                    report: Report, included: set[int] | None) -> None:
    deleted = deleted_seqs(entries)
    segments = [e for e in entries if e.fields.get("kind") == "segment"]
    by_hash = {e.fields.get("sha256"): e for e in segments}
    named = set()
    for entry in segments:
        named.add(entry.fields.get("file"))
        if entry.seq in deleted or (start is not None and entry.end <= start) or (end is not None and entry.start >= end):
            continue
        if included is not None and entry.seq not in included:
            continue  # an export holds the range's files only; the entries around them link it to the signed head
        where = f"{camera_id} seq {entry.seq} ({entry.fields.get('file')}, {entry.fields.get('start')})"
        path = camera_dir / entry.fields.get("file", "")
        try:
            data = path.read_bytes()
        except OSError:
            report.problems.append(f"{where}: segment file missing, and no deletion entry names it")
            continue
        report.segments_checked += 1
        report.bytes_checked += len(data)
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.fields.get("sha256"):
            other = by_hash.get(digest)
            why = (f"it holds the bytes of seq {other.seq} ({other.fields.get('file')}): segments swapped or copied"
                   if other is not None else "the file was changed or replaced")
            report.problems.append(f"{where}: SHA-256 {digest[:16]}... is not the chain's {str(entry.fields.get('sha256'))[:16]}...: {why}")
    segments_dir = camera_dir / SEGMENTS_DIR
    if segments_dir.exists():
        for path in sorted(segments_dir.rglob("*")):
            if not path.is_file() or str(path.relative_to(camera_dir)) in named:
                continue
            if path.name.endswith(TEMP_SUFFIX):  # never evidence; removed by the writer once left alone
                report.warnings.append(f"{camera_id} {path.relative_to(camera_dir)}: a segment still being written, or left by a crash")
            else:
                report.problems.append(f"{camera_id} {path.relative_to(camera_dir)}: a file the chain does not name (added)")


def _check_signatures(camera_id: str, camera_dir: Path, entries: list[Entry], by_seq: dict[int, Entry], trusted: dict,
                      report: Report) -> None:
    signed_up_to = -1
    try:
        lines = (camera_dir / SIGNATURES_FILE).read_bytes().splitlines()
    except OSError:
        lines = []
    for number, line in enumerate(lines, 1):
        where = f"{camera_id} signature line {number}"
        try:
            signature = json.loads(line)
            seq, digest = signature["seq"], signature["entry_sha256"]
            raw = base64.b64decode(signature["signature"], validate=True)
        except (ValueError, KeyError, TypeError):
            report.problems.append(f"{where}: not a valid signature record")
            continue
        where += f" (of seq {seq})"
        entry = by_seq.get(seq)
        if entry is None:
            continue  # signs an entry outside this extract
        if entry.hash != digest:
            report.problems.append(f"{where}: signs a line with hash {digest[:16]}..., but seq {seq} now hashes to {entry.hash[:16]}... (the entry was changed)")
            continue
        key = trusted.get(signature.get("key"))
        if key is None:
            report.problems.append(f"{where}: signed with key {str(signature.get('key'))[:16]}..., not a trusted site key")
            continue
        if not signature_valid(key, raw, entry.line):
            report.problems.append(f"{where}: the signature does not verify with the site key (replaced or changed)")
            continue
        report.signatures += 1
        signed_up_to = max(signed_up_to, seq)
    if not entries:
        return
    last = entries[-1].fields.get("seq", -1)
    if signed_up_to < 0:
        report.problems.append(f"{camera_id}: no valid signature covers the chain")
    elif signed_up_to < last:
        report.warnings.append(f"{camera_id}: seq {signed_up_to + 1}..{last} not signed yet (written after the last signing, e.g. before a crash)")


def summary(report: Report) -> str:
    lines = [f"PROBLEM {p}" for p in report.problems] + [f"warning {w}" for w in report.warnings]
    verdict = "OK" if report.ok else f"FAILED ({len(report.problems)} problem(s))"
    lines.append(f"{verdict}: {report.cameras} camera(s), {report.entries} chain entries, {report.segments_checked} segments "
                 f"({report.bytes_checked / 1e6:.1f} MB) checked, {report.signatures} signatures valid")
    return "\n".join(lines)
