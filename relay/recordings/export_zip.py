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

The joined video.mp4 is not in the chain (it is made on export); its frames (and sound, where the
segments have it) are those of the segment files. Timestamps that go back (a node restart
between segments) are moved forward.
"""

from __future__ import annotations

import base64
import contextlib
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
    """Remux the segment files into one MP4 (no re-encode): the picture, and the sound where the
    segments carry it (the codec of the first segment with sound); timestamps kept increasing."""
    with_sound = next((path for path in files if _has_sound(path)), None)
    with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as out, \
            (av.open(str(with_sound)) if with_sound else contextlib.nullcontext()) as template:
        joiner = _Joiner(out, template.streams.audio[0] if template else None)  # every stream set up before the first packet
        for path in files:
            with av.open(str(path)) as source:
                joiner.add(source)


CLOCK_RATE = 90_000
CLOCK = Fraction(1, CLOCK_RATE)


def _has_sound(path: Path) -> bool:
    with av.open(str(path)) as source:
        return bool(source.streams.audio)


class _Joiner:
    def __init__(self, out, sound_template):
        self.out = out
        self.video = None
        self.audio = None
        if sound_template is not None:
            self.codec, self.rate = sound_template.codec_context.name, sound_template.codec_context.sample_rate
            self.audio = out.add_stream_from_template(sound_template)
            self.audio.time_base = Fraction(1, self.rate)
        self.offset = 0  # 90 kHz, added to a file's own times
        self.last_dts: int | None = None
        self.last_audio_dts: int | None = None
        self.step = 3600

    def add(self, source) -> None:
        video = source.streams.video[0]
        sound = next((a for a in source.streams.audio if self.audio and a.codec_context.name == self.codec), None)
        if self.video is None:
            self.video = self.out.add_stream_from_template(video)
            self.video.time_base = CLOCK
        pictures, frames = [], []
        for packet in source.demux([video] + ([sound] if sound else [])):
            if packet.dts is not None and packet.size:
                (pictures if packet.stream is video else frames).append(packet)
        for packet in pictures:
            dts = _ticks(packet.dts, video.time_base)
            pts = _ticks(packet.pts if packet.pts is not None else packet.dts, video.time_base)
            if self.last_dts is not None and dts + self.offset <= self.last_dts:
                self.offset = self.last_dts + self.step - dts  # a restart's clock began again: continue after the last frame
            elif self.last_dts is not None:
                self.step = max(1, min(self.step, dts + self.offset - self.last_dts))
            self._mux(packet, self.video, dts + self.offset, pts + self.offset)
            self.last_dts = dts + self.offset
        for packet in frames:  # the sound keeps the offset its file's pictures took
            dts = (_ticks(packet.dts, sound.time_base) + self.offset) * self.rate // CLOCK_RATE
            if self.last_audio_dts is not None and dts <= self.last_audio_dts:
                continue  # overlaps what came before (segments follow each other: not expected)
            self._mux(packet, self.audio, dts, dts)
            self.last_audio_dts = dts

    def _mux(self, packet, stream, dts: int, pts: int) -> None:
        packet.dts, packet.pts = dts, pts
        packet.time_base = stream.time_base
        packet.stream = stream
        self.out.mux(packet)


def _ticks(value: int, time_base: Fraction) -> int:
    return int(value * time_base * CLOCK_RATE)
