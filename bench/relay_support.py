"""The child processes of the relay benchmark (`bench/relay.py`); run by it, not by hand:

    .venv/bin/python bench/relay_support.py stock-server --rtsp URL     # the stock aiortc baseline
    .venv/bin/python bench/relay_support.py viewers [--decode]          # a process holding WHEP viewers
    .venv/bin/python bench/relay_support.py fanout-client [--light] ARGS...   # ../shared/bench/janus/fanout_bench.py, loopback ICE

`stock-server` is a WHEP endpoint written the obvious stock-aiortc way, so the bench compares
Pantau with what one would build from aiortc's own parts: one `MediaPlayer(decode=False)` on
the camera (H.264 packets, no decoding) and one `MediaRelay().subscribe(player.video)` per
viewer. It answers `POST /whep/{id}` (201, answer, Location) and `DELETE` on the session like
Pantau, so the same clients measure both. It prints `READY http://127.0.0.1:PORT` once the
camera's first packet has been read.

`viewers` holds aiortc WHEP viewers (tests/support/whep_client.py) in its own process, so the
measured server's CPU is the relay's only. It reads one JSON command per line on stdin and
answers each with one line `@@ {json}` on stdout (anything else on stdout is ignored):
`{"op": "join", "base": URL, "camera": ID, "count": N}`, `{"op": "frames"}`,
`{"op": "leave"}`, `{"op": "ttff", "base": URL, "camera": ID}`, `{"op": "quit"}`.
Without `--decode` the viewers do not decode: the bench holds up to 50 viewers of a 720p
camera on a 2-core machine, and 50 H.264 decoders in the clients would starve the server
being measured. Frames are still received, depacketised, reassembled and counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.support.whep_client, and the product it imports

REPLY_PREFIX = "@@ "
JOIN_CONCURRENCY = 4  # offers in flight per viewer process: aiortc answers each on one loop
FIRST_FRAME_TIMEOUT_S = 15.0


# -- the stock aiortc WHEP server ---------------------------------------------------------------

def _loopback_ice_only() -> None:
    """aioice offers every non-loopback address and has no option for it; the bench runs on
    127.0.0.1 only, so this baseline process offers loopback alone (Pantau is configured the
    same way through relay.ice)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def _h264_only() -> list:
    from aiortc import RTCRtpSender

    # Set before setRemoteDescription: aiortc picks the codec there, and an aiortc (or
    # Chromium) offer lists VP8 first, which would make the server transcode.
    return [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]


async def _start_reading(relay, player) -> None:
    """Make the relay read the camera before any viewer comes, so "0 viewers" means the camera
    is being ingested (as on the Pantau node): MediaRelay starts its reader on the first
    proxy's recv() and keeps it running after the proxy stops."""
    from aiortc.mediastreams import MediaStreamError

    warmup = relay.subscribe(player.video)
    try:
        await asyncio.wait_for(warmup.recv(), 20)
    except (MediaStreamError, TimeoutError):
        raise SystemExit("stock-server: no packet from the camera within 20 s") from None
    warmup.stop()


def stock_app(rtsp_url: str):
    from aiohttp import web
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer, MediaRelay

    player = MediaPlayer(rtsp_url, decode=False, options={"rtsp_transport": "tcp"})
    relay = MediaRelay()
    sessions: dict[str, RTCPeerConnection] = {}
    routes = web.RouteTableDef()

    @routes.post("/whep/{camera}")
    async def offer(request: web.Request) -> web.Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver(relay.subscribe(player.video), direction="sendonly")
        transceiver.setCodecPreferences(_h264_only())
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        session_id = secrets.token_urlsafe(12)
        sessions[session_id] = pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                sessions.pop(session_id, None)
                await pc.close()

        location = f"/whep/{request.match_info['camera']}/sessions/{session_id}"
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp", headers={"Location": location})

    @routes.delete("/whep/{camera}/sessions/{session}")
    async def end(request: web.Request) -> web.Response:
        pc = sessions.pop(request.match_info["session"], None)
        if pc is None:
            return web.Response(status=404)
        # As aiortc's examples do: close the peer connection (its RTP sender then stops the
        # MediaRelay proxy; /stats shows whether any stays subscribed).
        await pc.close()
        return web.Response(status=200)

    @routes.get("/stats")
    async def stats(request: web.Request) -> web.Response:
        proxies = getattr(relay, "_MediaRelay__proxies", {})  # private: diagnostics only
        return web.json_response({"sessions": len(sessions), "relay_proxies": sum(len(p) for p in proxies.values())})

    async def on_startup(app: web.Application) -> None:
        await _start_reading(relay, player)

    async def on_shutdown(app: web.Application) -> None:
        await asyncio.gather(*(pc.close() for pc in sessions.values()), return_exceptions=True)
        sessions.clear()
        player.video.stop()

    app = web.Application()
    app.add_routes(routes)
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


async def serve_stock(rtsp_url: str, port: int) -> None:
    from aiohttp import web

    _loopback_ice_only()
    runner = web.AppRunner(stock_app(rtsp_url), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{bound}", flush=True)
    try:
        await _parent_gone()  # or SIGTERM, whose default action ends the process
    finally:
        await runner.cleanup()


async def _parent_gone() -> None:
    """Never outlive the bench, even if it was killed (its `finally` could not stop us)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)


# -- viewer processes ---------------------------------------------------------------------------

class EncodedFrame:
    """What a non-decoding viewer hands to WhepViewer instead of a decoded frame."""

    width = height = 0


def _counting_worker(loop, input_q, output_q, decode_error) -> None:
    """Replaces aiortc's `decoder_worker` thread: one marker per reassembled frame, no decoding."""
    marker = EncodedFrame()
    while True:
        task = input_q.get()
        asyncio.run_coroutine_threadsafe(output_q.put(None if task is None else marker), loop)
        if task is None:
            return


def _without_decoding() -> None:
    import aiortc.rtcrtpreceiver

    # Looked up by RTCRtpReceiver.receive() when it starts the thread.
    aiortc.rtcrtpreceiver.decoder_worker = _counting_worker


def _loopback_only_viewers() -> None:
    """The viewers offer 127.0.0.1 only, like both servers (whep_client adds loopback to the
    machine's addresses)."""
    from pantau.runtime.config import IceSettings
    from pantau.web.ice_config import apply_host_address_policy

    apply_host_address_policy(IceSettings(host_addresses=["127.0.0.1"]))


def negotiated_codec(sdp: str) -> str:
    """The codec of the first payload type of the answer's video m-line (what is sent)."""
    match = re.search(r"^m=video \d+ \S+ (\d+)", sdp, re.M)
    if not match:
        return "none"
    rtpmap = re.search(rf"^a=rtpmap:{match.group(1)} ([^/\s]+)", sdp, re.M)
    return rtpmap.group(1) if rtpmap else "?"


class ViewerHost:
    """The viewers of one process and the commands on them."""

    def __init__(self):
        from tests.support.whep_client import WhepViewer

        self.viewer_class = WhepViewer
        self.viewers: list = []

    async def _open(self, base: str, camera: str, limit: asyncio.Semaphore) -> dict:
        async with limit:
            viewer = self.viewer_class(base, camera)
            try:
                await viewer.start()
                ttff = await viewer.first_frame_after(FIRST_FRAME_TIMEOUT_S)
            except Exception as exc:  # reported to the bench, which decides what it means
                with contextlib.suppress(Exception):
                    await viewer.close()
                return {"error": f"{type(exc).__name__}: {exc}"}
            self.viewers.append(viewer)
            return {"ttff": ttff, "codec": negotiated_codec(viewer.pc.remoteDescription.sdp)}

    async def join(self, base: str, camera: str, count: int) -> dict:
        limit = asyncio.Semaphore(JOIN_CONCURRENCY)
        results = await asyncio.gather(*(self._open(base, camera, limit) for _ in range(count)))
        return {"joined": sum("ttff" in r for r in results),
                "ttff": [r["ttff"] for r in results if "ttff" in r],
                "codecs": sorted({r["codec"] for r in results if "codec" in r}),
                "errors": [r["error"] for r in results if "error" in r]}

    def frames(self) -> dict:
        return {"frames": [len(v.frames) for v in self.viewers], "at": time.monotonic()}

    async def leave(self) -> dict:
        viewers, self.viewers = self.viewers, []
        results = await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
        return {"left": len(viewers), "statuses": [r if isinstance(r, int) else repr(r) for r in results]}

    async def ttff(self, base: str, camera: str) -> dict:
        """One new viewer: seconds from its POST to its first decoded frame; then it leaves."""
        viewer = self.viewer_class(base, camera)
        try:
            await viewer.start()
            ttff = await viewer.first_frame_after(FIRST_FRAME_TIMEOUT_S)
            codec = negotiated_codec(viewer.pc.remoteDescription.sdp)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await viewer.close()
            return {"error": f"{type(exc).__name__}: {exc}"}
        status = await viewer.close()
        return {"ttff": ttff, "codec": codec, "delete": status}

    async def handle(self, command: dict) -> dict:
        op = command["op"]
        if op == "join":
            return await self.join(command["base"], command["camera"], command["count"])
        if op == "frames":
            return self.frames()
        if op == "leave":
            return await self.leave()
        if op == "ttff":
            return await self.ttff(command["base"], command["camera"])
        return {"error": f"unknown op {op!r}"}


async def serve_viewers(decode: bool, host_class: type = ViewerHost) -> None:
    """Serve the commands on stdin with `host_class()` (bench/soak_viewers.py passes its own)."""
    if not decode:
        _without_decoding()
    _loopback_only_viewers()
    host = host_class()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "quit":
            break
        try:
            reply = await host.handle(command)
        except Exception as exc:  # keep serving: the bench reports it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(REPLY_PREFIX + json.dumps(reply), flush=True)
    await host.leave()


FANOUT_CLIENT = REPO.parent / "shared" / "bench" / "janus" / "fanout_bench.py"


def run_fanout_client(arguments: list[str]) -> None:
    """The shared Janus fan-out client (N aiortc viewers of Janus or any WHEP server, one JSON
    line of figures), run from where it lives, with the viewers offering loopback only like
    every server of the bench (it has no option for that). `--machine-address` first: the
    machine's own addresses instead, for Janus, whose libnice never offers loopback (traffic to
    the machine's own address stays in the kernel's loopback path all the same). `--light`
    before it: light viewers (bench/relay_light_viewer.py), their figures on one more line."""
    import runpy

    light = arguments[:1] == ["--light"]
    if light:  # (bench/relay_light_viewer.py: viewers that count media from the RTP header)
        import relay_light_viewer

        relay_light_viewer.install()
        arguments = arguments[1:]
    if arguments[:1] == ["--machine-address"]:
        arguments = arguments[1:]
    else:
        _loopback_ice_only()
    sys.argv = [str(FANOUT_CLIENT), *arguments]
    runpy.run_path(str(FANOUT_CLIENT), run_name="__main__")
    if light:
        print(relay_light_viewer.LIGHT_PREFIX + json.dumps(relay_light_viewer.report()), flush=True)


def main() -> None:
    if sys.argv[1:2] == ["fanout-client"]:
        run_fanout_client(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stock = commands.add_parser("stock-server")
    stock.add_argument("--rtsp", required=True)
    stock.add_argument("--port", type=int, default=0)
    viewers = commands.add_parser("viewers")
    viewers.add_argument("--decode", action="store_true", help="decode frames (for time to first frame)")
    args = parser.parse_args()
    try:
        if args.command == "stock-server":
            asyncio.run(serve_stock(args.rtsp, args.port))
        else:
            asyncio.run(serve_viewers(args.decode))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
