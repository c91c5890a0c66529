"""The RTSP stall watch (issue 13): a camera whose usable video stops for longer than the read
timeout is `no_data` whatever its socket does (RTCP or keepalives keep a socket busy, and
FFmpeg's socket timeout then never fires; PyAV's read timeout is off for CPU). The real source
and pipeline; only the container is a stand-in, so the socket's behaviour can be chosen."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import pytest

import ingest.sources.rtsp_source as rtsp_source
from ingest.camera_pipeline import CameraPipeline
from ingest.sources.backoff import Backoff
from ingest.sources.rtsp_source import RtspSettings, RtspSource
from ingest.transcoder import TranscodeSettings
from pantau.bus.memory_bus import InProcessBus
from tests.test_h264_and_health import encode_h264
from tests.test_timestamp_jumps import Analyzer, Status

READ_TIMEOUT_S = 1.0
FRAMES, _ = encode_h264(25)


class History(Status):
    def __init__(self) -> None:
        super().__init__()
        self.states: list[tuple[float, str, str | None]] = []

    def report(self, camera_id: str, **fields) -> None:
        super().report(camera_id, **fields)
        if "state" in fields:
            self.states.append((time.time(), fields["state"], fields.get("reason")))


class Camera:
    """A stand-in container: 25 good packets, then the socket stays busy with `after`."""

    def __init__(self, after: str, closed: threading.Event):
        self.after = after
        self.closed = closed
        stream = type("Stream", (), {})()
        stream.codec_context = av.CodecContext.create("h264", "r")
        stream.time_base = Fraction(1, 90_000)
        self.stream = stream
        self.last_good_at = 0.0

    def demux(self, stream):
        for n, data in enumerate(FRAMES):
            self.last_good_at = time.time()
            yield self._packet(data, n * 3600)
            time.sleep(0.04)
        while not self.closed.is_set():
            if self.after == "unusable":  # packets keep coming, all with the same old timestamp
                yield self._packet(FRAMES[-1], 0)
                time.sleep(0.04)
            else:  # "blocked": FFmpeg reads RTCP and hands over nothing
                self.closed.wait(0.05)

    @staticmethod
    def _packet(data: bytes, dts: int) -> av.Packet:
        packet = av.Packet(data)
        packet.pts = packet.dts = dts
        packet.time_base = Fraction(1, 90_000)
        return packet

    def close(self) -> None:
        pass


@pytest.mark.parametrize("after", ["unusable", "blocked"])
def test_a_busy_socket_without_usable_video_is_no_data_within_the_read_timeout(monkeypatch, after):
    closed = threading.Event()
    cameras: list[Camera] = []

    def open_camera(*_args, **_kwargs):
        cameras.append(Camera(after, closed))
        return cameras[-1]

    monkeypatch.setattr(rtsp_source, "open_rtsp", open_camera)
    monkeypatch.setattr(rtsp_source, "video_stream", lambda container: container.stream)
    monkeypatch.setattr(rtsp_source, "audio_stream", lambda container: None)  # a camera without sound
    status = History()
    pipeline = CameraPipeline("cam", InProcessBus(), status, Analyzer(), TranscodeSettings())
    source = RtspSource("cam", "rtsp://camera/x", "tcp", pipeline, RtspSettings(1.0, READ_TIMEOUT_S),
                        Backoff(initial_s=0.2, cap_s=0.2))
    source.start()
    try:
        deadline = time.time() + 10
        while not any(state == "offline" for _, state, _ in status.states):
            assert time.time() < deadline, status.states
            source.check_stall(time.time())  # what the worker does every second
            time.sleep(0.1)
        went_offline, _, reason = next(s for s in status.states if s[1] == "offline")
        silent = went_offline - cameras[0].last_good_at
        print(f"\n{after}: no_data {silent:.2f} s after the last usable packet (read timeout {READ_TIMEOUT_S} s)")
        assert reason == "no_data"
        assert READ_TIMEOUT_S <= silent <= READ_TIMEOUT_S + 0.5
        if after == "unusable":  # the session ends and the camera is connected again
            deadline = time.time() + 5
            while len(cameras) < 2:
                assert time.time() < deadline
                time.sleep(0.05)
    finally:
        source.stop()
        closed.set()
        assert source.join(5)
