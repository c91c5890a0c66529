"""Restream to RTMP (issue 18 part 4) against real parts: a GStreamer RTSP camera, ingest in this
process, and Debian's nginx with libnginx-mod-rtmp as the receiving server; what it received is
read back with ffmpeg. The stream key must never reach a log line or a status, and a killed
server must get the stream back by itself once it is up again."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import time

import pytest

from ingest.worker import IngestWorker
from outputs.restream.restreamer import RestreamTimeouts
from pantau.bus.memory_bus import InProcessBus
from pantau.cameras.regions import dki_regions
from pantau.cameras.registry import Registry
from pantau.runtime.config import IngestSettings
from tests.support.log_lines import redacted_log_lines
from tests.support.rtmp_server import RtmpServer
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.system_deps import require_binary
from tests.test_ingest_rtsp import Ingest

STREAM_KEY = "k3y-2f9a-77q1-vv8x-secret"
pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def camera():
    server = RtspCameraServer([Mount(path="/cam", gop_seconds=1, width=640, height=360, fps=25, bitrate_kbps=800)])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rtmp(tmp_path):
    server = RtmpServer(tmp_path / "rtmp").start()
    yield server
    server.stop()


@pytest.fixture
async def ingest(redis_server, caplog):
    import redis.asyncio as aioredis

    caplog.set_level(logging.DEBUG)
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    registry = Registry(client, dki_regions())
    worker = IngestWorker(registry, InProcessBus(), IngestSettings(backoff_initial_s=0.3, backoff_cap_s=1.0, poll_registry_s=0.2))
    await worker.start()
    yield Ingest(registry, worker.bus, worker)
    await worker.stop()
    statuses = json.dumps(await client.hgetall("{pantau}:status"))
    await client.aclose()
    # What the caplog handler got, raw (no redacting filter on it): our own code must keep the key out.
    assert STREAM_KEY not in "\n".join(r.getMessage() for r in caplog.get_records("call")), "the stream key reached a log line"
    assert all(STREAM_KEY not in line for line in redacted_log_lines(caplog))
    assert STREAM_KEY not in statuses, "the stream key reached a status"


def read_back(url: str, seconds: float, out) -> dict:
    """ffmpeg records `seconds` of what the RTMP server relays; the file is then decoded whole
    (-xerror: any decoding error fails) and described by ffprobe."""
    ffmpeg, ffprobe = require_binary("ffmpeg"), require_binary("ffprobe")
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-rw_timeout", "15000000", "-i", url, "-t", str(seconds),
                    "-c", "copy", "-y", str(out)], check=True, timeout=seconds + 30)
    decode = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-xerror", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    assert decode.returncode == 0 and not decode.stderr.strip(), decode.stderr
    probe = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                            "stream=codec_name,width,height,nb_read_frames:packet=dts_time", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True, timeout=60)
    info = json.loads(probe.stdout)
    times = [float(p["dts_time"]) for p in info["packets"]]
    stream = info["streams"][0]
    return {"codec": stream["codec_name"], "size": (stream["width"], stream["height"]), "frames": int(stream["nb_read_frames"]),
            "span": times[-1] - times[0], "largest_step": max(b - a for a, b in zip(times, times[1:]))}


async def wait_restream(ingest: Ingest, camera_id: str, state: str, timeout: float = 20.0) -> dict:
    status = await ingest.wait_status(camera_id, lambda s: (s.get("restream") or {}).get("state") == state, timeout)
    return status["restream"]


async def test_ffmpeg_reads_back_10_s_of_valid_h264(camera, rtmp, ingest, tmp_path):
    await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=STREAM_KEY)
    await wait_restream(ingest, "cam", "live")
    got = await _in_thread(read_back, f"{rtmp.url}/{STREAM_KEY}", 10, tmp_path / "got.flv")
    assert got["codec"] == "h264" and got["size"] == (640, 360)
    assert got["span"] >= 9.5 and got["frames"] >= 200  # 25 fps for 10 s; a loaded machine drops a few
    assert got["largest_step"] < 0.5  # timestamps continuous
    restreamer = ingest.worker.restreams.running["cam"]
    assert restreamer.sessions == 1 and restreamer.skips == 0


async def test_the_restream_comes_back_after_the_server_is_killed_and_restarted(camera, rtmp, ingest, tmp_path):
    await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=STREAM_KEY)
    await wait_restream(ingest, "cam", "live")
    rtmp.kill()
    failed = await wait_restream(ingest, "cam", "error")
    assert failed["reason"] in ("connection_lost", "refused")
    time.sleep(2.0)  # down for a while: the retries find nothing listening
    rtmp.start()
    await wait_restream(ingest, "cam", "live")
    assert ingest.worker.restreams.running["cam"].sessions >= 2
    got = await _in_thread(read_back, f"{rtmp.url}/{STREAM_KEY}", 3, tmp_path / "again.flv")
    assert got["codec"] == "h264" and got["frames"] >= 50


async def test_a_refused_publish_is_an_error_and_the_key_stays_out_of_the_log(camera, rtmp, ingest, caplog):
    # FFmpeg's error text quotes the URL it was given, key and all.
    await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url.replace("/live", "/closed"), restream_key=STREAM_KEY)
    failed = await wait_restream(ingest, "cam", "error")
    assert failed["reason"]
    assert any("restream to" in r.getMessage() and "failed" in r.getMessage() for r in caplog.get_records("call"))


async def test_removing_the_destination_stops_the_restream(camera, rtmp, ingest):
    await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=STREAM_KEY)
    await wait_restream(ingest, "cam", "live")
    restreamer = ingest.worker.restreams.running["cam"]
    stored = await ingest.registry.require("cam")
    from pantau.cameras.audit_log import Actor
    from pantau.cameras.camera import admin_view, validate_camera

    edited = admin_view(stored) | {"restream_url": None, "restream_key": None}
    edited.pop("status")
    await ingest.registry.replace(validate_camera(edited, dki_regions(), stored), Actor("test", "127.0.0.1"), stored)
    await ingest.wait_status("cam", lambda s: "restream" not in s)  # no destination, no restream status
    pusher = restreamer.pusher
    deadline = time.monotonic() + 5
    while "cam" in ingest.worker.restreams.running or pusher.returncode is None:  # the next reconcile stops it
        assert time.monotonic() < deadline, "the restream was not stopped"
        await asyncio.sleep(0.1)


async def test_a_server_that_never_answers_the_handshake_is_given_up_on_and_tried_again(camera, rtmp, ingest):
    ingest.worker.restreams.timeouts = RestreamTimeouts(connect_s=4.0, io_s=3.0)
    rtmp.pause()  # connections are accepted (the kernel's backlog) but the RTMP handshake never answers
    try:
        await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=STREAM_KEY)
        failed = await wait_restream(ingest, "cam", "error", timeout=15)
        assert failed["reason"] == "timeout"
        assert ingest.worker.status.current("cam")["state"] == "online"  # ingest went on meanwhile
    finally:
        rtmp.pause(False)
    await wait_restream(ingest, "cam", "live")


async def test_a_pusher_that_stops_taking_data_is_replaced(camera, rtmp, ingest):
    ingest.worker.restreams.timeouts = RestreamTimeouts(connect_s=10.0, io_s=3.0)
    await ingest.add("cam", camera.url("/cam"), restream_url=rtmp.url, restream_key=STREAM_KEY)
    await wait_restream(ingest, "cam", "live")
    restreamer = ingest.worker.restreams.running["cam"]
    os.kill(restreamer.pusher.pid, signal.SIGSTOP)  # as when its socket write blocks on a stuck server
    failed = await wait_restream(ingest, "cam", "error", timeout=15)
    assert failed["reason"] == "stalled"
    await wait_restream(ingest, "cam", "live")
    assert restreamer.sessions == 2


async def _in_thread(function, *args):
    return await asyncio.to_thread(function, *args)
