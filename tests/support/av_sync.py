"""Audio/video offset at a WHEP viewer, measured the way a browser lines the two tracks up
(issue 20: lips and voices within 80 ms).

A browser plays each track from its own jitter buffer and lines them up by the RTCP sender
reports: each report maps its track's RTP clock onto the sender's wall clock (NTP), and the
player schedules a frame for the wall-clock instant its RTP timestamp maps to. `SyncViewer` does
the same arithmetic on what aiortc decodes: every decoded frame's RTP timestamp (aiortc hands
frames over relative to the first one it saw; the origin is added back) is mapped through the
latest sender report of its track. The flash camera (`Mount(flash=...)`) turns its picture
white and its sound on at the same instants on its own clock; the offset of each beep edge from
its flash edge, in those sender wall-clock terms, is what a viewer would see and hear.

Arrival times are kept too, for the failure message only: aiortc holds audio in a jitter buffer
of its own (prefetch of four packets) that a browser does not have, so arrival offsets are not
what a viewer perceives.

    viewer = await SyncViewer(node.url, "cam", token=..., audio=True).start()
    ...; edges = viewer.edges()  -> offsets_s(edges): beep edge minus flash edge, seconds
    edges_in_file("copy.mp4")      # the same edges in a file (an HLS copy), on its PTS
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtcpSrPacket

from .sound_cameras import mono
from .whep_client import WhepViewer

CLOCKS = {"video": 90_000, "audio": 48_000}
WHITE_LUMA = 128  # the flash camera's black is ~16, its white ~235
BEEP_RMS = 0.05  # the beep is a sine at half scale (RMS ~0.35); silence decodes to ~0
AUDIO_BLOCK = 240  # 5 ms at 48 kHz: the resolution of a beep edge
NTP_TO_UNIX_S = 2_208_988_800  # NTP counts from 1900, time.time() from 1970
REPORTS_AROUND_S = 2.0  # aiortc sends a sender report every 0.5-1.5 s: after a restart, wait this for new ones


@dataclass
class TrackTimes:
    """One track's sender reports and what was decoded, on its RTP clock."""

    clock: int
    reports: list[tuple[int, int, float]] = field(default_factory=list)  # (NTP 32.32, RTP timestamp, arrival)
    samples: list[tuple[int, float, float]] = field(default_factory=list)  # (RTP timestamp, value, arrival time.time())

    def sender_time(self, rtp: int, arrival: float) -> float | None:
        """Seconds on the sender's wall clock (time.time() terms) at which RTP timestamp `rtp`,
        which arrived at `arrival`, was live, by the sender report that arrived nearest to it (a
        browser takes the latest; the nearest is as good and never straddles a camera restart
        or a catch-up that moved the sender's mapping more than a second ago)."""
        if not self.reports:
            return None
        ntp, at, _ = min(self.reports, key=lambda report: abs(report[2] - arrival))
        return ntp / (1 << 32) + _since(rtp, at) / self.clock - NTP_TO_UNIX_S


def _since(rtp: int, base: int) -> int:
    """RTP timestamp `rtp` relative to `base` (RTP wraps at 32 bits)."""
    return (rtp - base + (1 << 31)) % (1 << 32) - (1 << 31)


def _edges(times: list[tuple[float, float]], threshold: float) -> list[tuple[float, bool]]:
    """(time, now on) wherever the value crosses `threshold`, in time order."""
    out, previous = [], None
    for at, value in times:
        on = value > threshold
        if previous is not None and on != previous:
            out.append((at, on))
        previous = on
    return out


class SyncViewer(WhepViewer):
    """A WHEP viewer (aiortc) that keeps, per decoded frame, its sender wall-clock time and its
    brightness (video) or loudness per 5 ms (audio)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tracks = {kind: TrackTimes(clock) for kind, clock in CLOCKS.items()}

    async def start(self) -> SyncViewer:
        await super().start()
        for transceiver in self.pc.getTransceivers():
            self._listen_for_reports(transceiver.receiver, self.tracks[transceiver.kind])
        return self

    @staticmethod
    def _listen_for_reports(receiver, track: TrackTimes) -> None:
        handle = receiver._handle_rtcp_packet  # aiortc (pinned 1.16.x) calls this with every RTCP packet

        async def keep_report(packet) -> None:
            if isinstance(packet, RtcpSrPacket):
                track.reports.append((packet.sender_info.ntp_timestamp, packet.sender_info.rtp_timestamp, time.time()))
            await handle(packet)

        receiver._handle_rtcp_packet = keep_report

    def _rtp_timestamp(self, kind: str, pts: int) -> int:
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.kind == kind)
        return (receiver._RTCRtpReceiver__timestamp_mapper._origin + pts) % (1 << 32)

    async def _read(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                arrival = time.time()
                self.frames.append(time.monotonic())
                if not self._first.done():
                    self._first.set_result(self.frames[-1])
                luma = float(frame.to_ndarray(format="gray")[::4, ::4].mean())
                self.tracks["video"].samples.append((self._rtp_timestamp("video", frame.pts), luma, arrival))

    async def _read_sound(self, track) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                arrival = time.time()
                samples = mono(frame) / 32768  # aiortc's Opus decoder gives s16
                rtp = self._rtp_timestamp("audio", frame.pts)
                for start in range(0, len(samples) - AUDIO_BLOCK + 1, AUDIO_BLOCK):
                    block = samples[start:start + AUDIO_BLOCK]
                    rms = float(np.sqrt(np.mean(block * block)))
                    self.tracks["audio"].samples.append((rtp + start, rms, arrival))

    def edges(self, by_arrival: bool = False) -> dict[str, list[tuple[float, bool]]]:
        """Each track's edges (time, on), in sender wall-clock seconds (time.time() terms), or
        by arrival here."""
        out = {}
        for kind, threshold in (("video", WHITE_LUMA), ("audio", BEEP_RMS)):
            track = self.tracks[kind]
            times = [(arrival if by_arrival else track.sender_time(rtp, arrival), value) for rtp, value, arrival in list(track.samples)]
            out[kind] = _edges([(at, value) for at, value in times if at is not None], threshold)
        return out


def edges_in_file(path) -> dict[str, list[tuple[float, bool]]]:
    """The flash and beep edges of a recording or an HLS copy, on its presentation clock (the PTS
    are all a player has to line the tracks up with)."""
    found: dict[str, list[tuple[float, float]]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0], container.streams.audio[0]):
            at = float(frame.pts * frame.time_base)
            if isinstance(frame, av.VideoFrame):
                found["video"].append((at, float(frame.to_ndarray(format="gray")[::4, ::4].mean())))
                continue
            samples = mono(frame)
            for start in range(0, len(samples) - AUDIO_BLOCK + 1, AUDIO_BLOCK):
                block = samples[start:start + AUDIO_BLOCK]
                found["audio"].append((at + start / frame.sample_rate, float(np.sqrt(np.mean(block * block)))))
    return {"video": _edges(sorted(found["video"]), WHITE_LUMA), "audio": _edges(sorted(found["audio"]), BEEP_RMS)}


def offsets_s(edges: dict[str, list[tuple[float, bool]]], within_s: float = 0.4) -> list[float]:
    """For each flash edge, the beep edge of the same kind (on, off) nearest to it, minus it:
    positive when the sound comes late. A flash edge with no beep edge within `within_s` counts
    as an offset of `within_s` (sound missing or far out)."""
    offsets = []
    for at, on in edges["video"]:
        nearest = min((beep - at for beep, beep_on in edges["audio"] if beep_on == on), key=abs, default=within_s)
        offsets.append(nearest if abs(nearest) < within_s else within_s)
    return offsets
