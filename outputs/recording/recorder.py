"""Records one camera: reads it from the stream bus, cuts fMP4 segments at keyframes with the
segmenter LL-HLS uses (pantau/media/fmp4_segmenter.py: one mux, two outputs), writes each one
safely (segment_files.py), chains it (chain.py) and signs the chain head every
`sign_every_s` and when it stops (site_key.py). No decoding.

Sound is part of the evidence: a recorded camera's sound is recorded whatever its codec. AAC is
kept as the camera sent it; any other sound (G.711, a WHIP phone's Opus) is recorded as the Opus
ingest makes of it for WebRTC, so a recorded G.711 camera keeps ingest's Opus encoder running all
day (~0.08-0.10 CPU-s per camera-minute, README "Sound"): accepted for evidence (recap sites are
few); an AAC camera never makes ingest encode Opus for its recording. Which track to read comes
from the codec ingest reports (`sound_codec`); when it becomes known or changes, the recorder
closes its segment and subscribes again with the other track. A segment's chain entry names the
codec (`"audio"`).
Recordings are written whole, with the sound, whoever may hear it: who gets the sound is decided
when they are played (relay/recordings/: the public only where the camera's `audio_public` is on).

Times are wall-clock: a segment starts when ingest received its first frame and lasts the sum
of its parts. A pause longer than `gap_s` between two segments becomes a gap entry, with the
reason: the camera sent nothing (offline) or recording itself stopped (a node restart, a crash,
a change of lease owner). A new subscription starts with the bus's cached GOP: what of it the
chain already holds is skipped; what it does not (the last GOP a killed owner published) is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from outputs.recording.chain import SIGNATURES_FILE, CameraChain, append_line, iso
from outputs.recording.disk_usage import DiskUsage
from outputs.recording.segment_files import SegmentFile, remove_unrecorded
from outputs.recording.site_key import SiteKey
from outputs.recording.writer_threads import least_busy
from pantau.bus.stream_bus import VIDEO, StreamBus, Subscription, TimedPacket
from pantau.media.fmp4_segmenter import Chunk, Fmp4Segmenter
from pantau.monitoring.timed_executor import TimedExecutor
from pantau.runtime.config import RecordingSettings

log = logging.getLogger(__name__)

# One-off blocking work (clean-up at start, retention): threads of their own, never the event loop;
# timed, so /metrics counts its CPU in recording's.
WRITERS = TimedExecutor(ThreadPoolExecutor(max_workers=2, thread_name_prefix="recording-chores"))
# One fragment per segment file: the muxer writes it when the segment closes (a fragment per
# second cost ~40 % more CPU; a crash loses the open segment either way, and VOD plays whole files).
ONE_FRAGMENT = 600.0  # s, longer than any segment (segment_s <= 60 plus a GOP); FFmpeg takes at most ~2147 s
ALREADY_RECORDED_S = 0.02  # a packet received this long before the chain's last end is in it already

GAP_OFFLINE = "no video from the camera"
GAP_RESTART = "recording stopped (node restart, crash or new lease owner)"


class Recorder:
    def __init__(self, bus: StreamBus, camera_id: str, chain: CameraChain, key: SiteKey, settings: RecordingSettings,
                 usage: DiskUsage | None = None, sound_codec: Callable[[str], str | None] = lambda camera_id: None):
        self.bus = bus
        self.sound_codec = sound_codec  # the camera's sound as ingest last reported it (None: none seen)
        self.usage = usage  # the recordings directory's running total, told of every segment written
        self.camera_id = camera_id
        self.chain = chain
        self.key = key
        self.settings = settings
        self._segmenter = self._new_segmenter()
        self._subscription: Subscription | None = None
        self._sound_track = "aac"  # of the subscription
        self._resubscribe: asyncio.Future | None = None  # done when the sound track changed (or, raising, writing failed)
        self._last_packet_at = time.monotonic()
        self._file: SegmentFile | None = None
        self._audio: str | None = None  # the sound codec of the segment being written
        self._start = 0.0
        self._duration = 0.0
        self._end: float | None = None  # where the last segment written ended (its continuation starts there)
        self._started_at = time.time()
        self._signed_seq = -1
        self._last_signed_at = time.monotonic()
        self.segments_written = 0

    async def run(self) -> None:
        """Record until cancelled (or until writing fails: raised here)."""
        loop = asyncio.get_running_loop()
        removed = await loop.run_in_executor(WRITERS, remove_unrecorded, self.chain)
        if removed:
            log.info("recording of %s: removed %d unfinished segment file(s) from before", self.camera_id, removed)
        while True:
            self._sound_track = self.sound_track()
            with self.bus.subscribe(self.camera_id, tracks=(VIDEO, self._sound_track)) as subscription:
                self._subscription = subscription
                self._resubscribe = loop.create_future()
                writer = least_busy()
                writer.add(self)
                try:
                    await self._resubscribe
                finally:
                    # Stopping (lease lost, camera no longer recorded, shutdown): the open segment is kept.
                    await asyncio.shield(asyncio.wrap_future(writer.remove(self)))
            log.info("recording of %s: its sound is now %s, recorded from the bus's %s track", self.camera_id,
                     self.sound_codec(self.camera_id), self.sound_track())
            self._segmenter = self._new_segmenter()  # the next subscription starts at a keyframe

    def sound_track(self) -> str:
        """The bus track the camera's sound is recorded from: AAC as the camera sent it; any other
        sound (G.711, a WHIP phone's Opus) as the Opus ingest makes of it for WebRTC."""
        return "aac" if self.sound_codec(self.camera_id) in (None, "aac") else "opus"

    def _new_segmenter(self) -> Fmp4Segmenter:
        return Fmp4Segmenter(ONE_FRAGMENT, self.settings.segment_s, audio=True)

    def failed(self, error: BaseException) -> None:
        self._tell_run(lambda future: future.set_exception(error))

    def _tell_run(self, act) -> None:
        """From the writer thread: end the run's wait (once)."""
        future = self._resubscribe
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody waits any more
                future.get_loop().call_soon_threadsafe(lambda: future.done() or act(future))

    # -- in the writer thread (writer_threads.py) ----------------------------------------------
    def tick(self) -> None:
        """What the subscription queued since the last tick (one call, no coroutine or wake-up per
        packet), muxed and written; the open segment closed once the camera sent nothing for idle_s."""
        try:
            batch = self._subscription.take_queued()
        except EOFError:  # the subscription closed: the recorder is stopping
            return
        if self.sound_track() != self._sound_track:  # the camera's sound is known now, or changed
            self._tell_run(lambda future: future.set_result(None))
        now = time.monotonic()
        quiet = not batch and now - self._last_packet_at >= self.settings.idle_s
        if batch or quiet:
            self._last_packet_at = now
        try:
            self._record(batch, quiet)
        except (ValueError, OSError) as exc:  # a packet the muxer refuses: start again at a keyframe
            log.warning("recording of %s: %s; starting again at the next keyframe", self.camera_id, exc)
            self._abandon()
            self._segmenter = self._new_segmenter()

    def _record(self, batch: list[TimedPacket], quiet: bool = False) -> None:
        if quiet:  # the camera went quiet: close the open segment (a gap follows if it stays away)
            self._write(self._segmenter.finish())
        recorded_until = (self.chain.last_segment_end or 0.0) - ALREADY_RECORDED_S
        feed = self._segmenter.feed
        for timed in batch:
            if timed.packet.received_at < recorded_until:
                continue  # the bus's cached GOP, already in a segment (the recorder restarted, or took over)
            chunks = feed(timed)
            if chunks:  # a segment closed (one picture in ~250)
                self._write(chunks)
        if time.monotonic() - self._last_signed_at >= self.settings.sign_every_s:
            self.sign_head()

    def _write(self, chunks: list[Chunk]) -> None:
        """One chunk is one whole segment (one fragment per segment): written, fsynced, renamed
        and chained at once. A segment longer than ONE_FRAGMENT would come as several chunks:
        each becomes a file of its own (every chunk carries its segment's init)."""
        for chunk in chunks:
            start = chunk.program_date_time if chunk.new_segment or self._end is None else self._end
            self._file = SegmentFile(self.chain.dir, start, chunk.init)
            self._file.write_pieces(chunk.pieces)
            self._start, self._duration, self._audio = start, chunk.duration, chunk.audio
            self._commit()
            self._end = start + chunk.duration

    def _commit(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        sha256 = file.commit()
        start, end = self._start, self._start + self._duration
        previous_end = self.chain.last_segment_end
        if previous_end is not None and start - previous_end > self.settings.gap_s:
            # Video stopped before this recorder started: recording itself stopped (restart, crash, new owner).
            self.chain.append("gap", start=iso(previous_end), end=iso(start),
                              reason=GAP_RESTART if previous_end < self._started_at else GAP_OFFLINE)
        sound = {"audio": self._audio} if self._audio else {}  # entries of silent segments stay as they were
        self.chain.append("segment", start=iso(start), end=iso(end), file=file.relative, sha256=sha256,
                          bytes=file.size, init_bytes=file.init_bytes, **sound)
        if self.usage is not None:
            self.usage.add(file.size)
        self.segments_written += 1

    def _abandon(self) -> None:
        if self._file is not None:
            self._file.abandon()
            self._file = None

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError, EOFError):
            self._record(self._subscription.take_queued())  # what came since the last tick
        with contextlib.suppress(ValueError, OSError):
            self._write(self._segmenter.finish())
        self._commit()
        self.sign_head()

    def sign_head(self) -> None:
        self._last_signed_at = time.monotonic()
        head = self.chain.last
        if head is None or head.seq == self._signed_seq:
            return
        append_line(self.chain.dir / SIGNATURES_FILE, self.key.sign_line(head, time.time()))
        self._signed_seq = head.seq
