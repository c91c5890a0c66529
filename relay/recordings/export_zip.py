"""Export of a range: one MP4 to watch, and the proof to check it, in one zip.

The zip has the layout of a recordings directory (so `pantau verify export.zip` checks it like
one), plus what a court's expert needs without our software:

  video.mp4                 the range's segments joined (remuxed, not re-encoded) for viewing
  <camera>/segments/...     the original segment files: these are the evidence
  <camera>/chain.jsonl      the chain entries from the range's first segment to the signed head
  <camera>/signatures.jsonl the signatures of those entries
  <camera>/heads/<seq>.line, .sig   the signed head line and its raw signature (for openssl)
  site-key.pub.pem          the site's public key (compare it with GET /api/recordings/site-key.pem)
  range.json                the range and the seqs of the segment files included
  README.txt                how to check all of it with sha256sum and openssl

The joined video.mp4 is not in the chain (it is made on export); its frames are those of the
segment files. Timestamps that go back (a node restart between segments) are moved forward.
"""

from __future__ import annotations

import base64
import json
import zipfile
from fractions import Fraction
from pathlib import Path

import av

from outputs.recording.chain import PUBLIC_KEY_FILE, SIGNATURES_FILE, Entry, iso
from outputs.recording.verify import RANGE_FILE
from relay.recordings.recording_index import Span

README = """Pantau recording export: camera {camera}, {start} to {end} (UTC).

video.mp4 is for watching. The evidence is each file in {camera}/segments/, checked like this:

1. The file's SHA-256 is the one its chain entry records:
     sha256sum {camera}/segments/<day>/<time>.mp4
     grep '<that hash>' {camera}/chain.jsonl
2. Each chain line names the SHA-256 of the line before it ("prev"); a line's hash is:
     sed -n 'Np' {camera}/chain.jsonl | tr -d '\\n' | sha256sum
3. The last line is signed by the site (Ed25519). Check the signature with OpenSSL 3:
     openssl pkeyutl -verify -pubin -inkey site-key.pub.pem -rawin \\
       -in {camera}/heads/{head}.line -sigfile {camera}/heads/{head}.sig
   and that {camera}/heads/{head}.line is the same as line {head_line} of chain.jsonl.
   Compare site-key.pub.pem with the one the site publishes at /api/recordings/site-key.pem.

Or all at once: pantau verify <this zip>
"""


def build_export(target: Path, camera_dir: Path, camera_id: str, spans: list[Span], entries: list[Entry],
                 start: float, end: float, public_key: bytes) -> None:
    segments = [s for s in spans if s.kind == "segment" and (camera_dir / s.file).exists()]
    signatures = _signatures(camera_dir)
    first = segments[0].entry.seq if segments else (entries[-1].seq if entries else 0)
    last = segments[-1].entry.seq if segments else first
    signed = sorted(seq for seq in signatures if seq >= last)
    head = signed[0] if signed else (entries[-1].seq if entries else last)
    extract = [e for e in entries if first <= e.seq <= head]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{camera_id}/chain.jsonl", b"".join(e.line + b"\n" for e in extract))
        archive.writestr(f"{camera_id}/{SIGNATURES_FILE}",
                         b"".join(line + b"\n" for seq, line in sorted(signatures.items()) if first <= seq <= head))
        for entry in extract:
            if entry.seq in signatures:
                record = json.loads(signatures[entry.seq])
                archive.writestr(f"{camera_id}/heads/{entry.seq}.line", entry.line)
                archive.writestr(f"{camera_id}/heads/{entry.seq}.sig", base64.b64decode(record["signature"]))
        for segment in segments:
            archive.write(camera_dir / segment.file, f"{camera_id}/{segment.file}")
        archive.writestr(PUBLIC_KEY_FILE, public_key)
        archive.writestr(RANGE_FILE, json.dumps({"camera": camera_id, "from": start, "to": end,
                                                 "seqs": [s.entry.seq for s in segments]}, indent=1))
        archive.writestr("README.txt", README.format(camera=camera_id, start=iso(start), end=iso(end), head=head,
                                                     head_line=head - first + 1))
        joined = target.with_suffix(".video.mp4")
        try:
            join_segments([camera_dir / s.file for s in segments], joined)
            archive.write(joined, "video.mp4")
        finally:
            joined.unlink(missing_ok=True)


def _signatures(camera_dir: Path) -> dict[int, bytes]:
    """seq -> its latest signature line."""
    found = {}
    try:
        lines = (camera_dir / SIGNATURES_FILE).read_bytes().splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        try:
            found[json.loads(line)["seq"]] = line
        except (ValueError, KeyError, TypeError):
            continue
    return found


def join_segments(files: list[Path], target: Path) -> None:
    """Remux the segment files into one MP4 (video only, no re-encode), timestamps kept increasing."""
    with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = None
        offset = 0
        last_dts: int | None = None
        step = 3600
        for path in files:
            with av.open(str(path)) as source:
                video = source.streams.video[0]
                if stream is None:
                    stream = out.add_stream_from_template(video)
                    stream.time_base = Fraction(1, 90_000)
                for packet in source.demux(video):
                    if packet.dts is None or packet.size == 0:
                        continue
                    dts = int(packet.dts * video.time_base * 90_000)
                    pts = int((packet.pts if packet.pts is not None else packet.dts) * video.time_base * 90_000)
                    if last_dts is not None and dts + offset <= last_dts:
                        offset = last_dts + step - dts  # a restart's clock began again: continue after the last frame
                    elif last_dts is not None:
                        step = max(1, min(step, dts + offset - last_dts))
                    packet.dts, packet.pts = dts + offset, pts + offset
                    packet.time_base = Fraction(1, 90_000)
                    packet.stream = stream
                    out.mux(packet)
                    last_dts = dts + offset
