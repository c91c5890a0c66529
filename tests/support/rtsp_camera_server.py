#!/usr/bin/python3
"""A real RTSP test camera on 127.0.0.1, built on GStreamer's RTSP server (gst-rtsp-server 1.22).

Run it with Debian's interpreter, which is the only one that has the `gi` bindings:

    /usr/bin/python3 tests/support/rtsp_camera_server.py --port 0 \
        --mount path=/cam,codec=h264,gop_seconds=4 \
        --mount path=/secure,auth=digest+basic,user=op,password=s3cret

or with the whole mount list as JSON (`--config '{"mounts": [{"path": "/cam"}, ...]}'`, or
`--config @file.json`). Without mounts it serves `default_mounts()`. Once listening it prints exactly
one line `READY rtsp://127.0.0.1:PORT` on stdout; after that stdout carries one event line per client
connection (`CLIENT-CONNECTED <ip>` / `CLIENT-CLOSED <ip>`) so tests can count camera connections.
Diagnostics go to stderr.

A mount with `tamperable=true` can be tampered with while it streams: a line `TAMPER <path> <action>`
on stdin (actions in TAMPER_ACTIONS: turn the camera, defocus it, hold a flag over most of it, cover
it, freeze the picture, dim the light, or `none` to undo) is answered `TAMPERED <path> <action>` on
stdout once the pipeline has it. Its picture is a layered scene: a view larger than the picture that
the camera pans over, optionally a large ball moving in front (`person`: someone walking through), a
flag and a cover that stay invisible until used, then the lens (blur), the light (videobalance) and
last the camera's own clock overlay, which stays sharp and in place whatever happens at the lens.

A mount with `flash=PERIOD` (seconds; needs a sound) is for measuring audio/video sync: a black
picture that is white for one half of every period while its sound beeps (an 880 Hz sine), and
black and silent for the other. Both switches are driven by GStreamer controllers bound to the
same pipeline clock (an LFO square wave per element: videotestsrc's colour, audiotestsrc's
volume), so picture and sound change at exactly the same stream time, every half period, on
frame and buffer boundaries (whole-second halves at an integer frame rate).

It exits cleanly on SIGTERM/SIGINT and on its own when the process that started it dies.

This module deliberately imports only the standard library at top level: the venv-side helper
(`rtsp_camera.py`) imports `Mount` and `default_mounts` from it without needing `gi`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields

CODECS = ("h264", "h265")
AUTH_METHODS = ("basic", "digest")
OVERLAYS = ("clock", "time", "none")
# A mount's sound (a 440 Hz sine, like a tuning fork held to the microphone), as cameras send it.
AUDIO_CHAINS = {
    "none": [],
    "aac": ["voaacenc bitrate=64000", "aacparse", "rtpmp4gpay pt=97 name=pay1"],
    "pcmu": ["audioresample", "audio/x-raw,rate=8000", "mulawenc", "rtppcmupay name=pay1"],
    "pcma": ["audioresample", "audio/x-raw,rate=8000", "alawenc", "rtppcmapay name=pay1"],
    "opus": ["opusenc", "rtpopuspay pt=98 name=pay1"],
}
TAMPER_ACTIONS = ("none", "turn", "blur", "obstruct", "cover", "freeze", "light")
FLASH_PICTURE, FLASH_SOUND = "flash_picture", "flash_sound"  # a flash mount's two controlled sources
BLACK = 0xFF000000  # videotestsrc foreground-color, ARGB
FLASH_VOLUME = 0.5
# Launch-string tokens we interpolate must not be able to break out of the pipeline description.
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_SAFE_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
# Every GStreamer element a mount's pipeline can use -> the Debian package that ships it. The server
# checks them before it listens and exits at once naming what to install (a missing element
# otherwise shows only as a 503 to every client, much later).
GSTREAMER_ELEMENT_PACKAGES = {
    "videotestsrc": "gstreamer1.0-plugins-base",
    "clockoverlay": "gstreamer1.0-x",  # the pango plugin: clockoverlay, timeoverlay
    "timeoverlay": "gstreamer1.0-x",
    "imagefreeze": "gstreamer1.0-plugins-good",
    "queue": "libgstreamer1.0-0",
    "compositor": "gstreamer1.0-plugins-base",  # tamperable mounts: the layered scene
    "videoconvert": "gstreamer1.0-plugins-base",
    "gaussianblur": "gstreamer1.0-plugins-bad",  # the gaudieffects plugin
    "videobalance": "gstreamer1.0-plugins-good",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "x265enc": "gstreamer1.0-plugins-bad",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "rtph265pay": "gstreamer1.0-plugins-good",
    "audiotestsrc": "gstreamer1.0-plugins-base",
    "audioconvert": "gstreamer1.0-plugins-base",
    "audioresample": "gstreamer1.0-plugins-base",
    "voaacenc": "gstreamer1.0-plugins-bad",
    "aacparse": "gstreamer1.0-plugins-good",
    "rtpmp4gpay": "gstreamer1.0-plugins-good",
    "mulawenc": "gstreamer1.0-plugins-good",
    "rtppcmupay": "gstreamer1.0-plugins-good",
    "alawenc": "gstreamer1.0-plugins-good",
    "rtppcmapay": "gstreamer1.0-plugins-good",
    "opusenc": "gstreamer1.0-plugins-base",
    "rtpopuspay": "gstreamer1.0-plugins-good",
}
MISSING_DEPENDENCY_EXIT = 3


@dataclass(frozen=True)
class Mount:
    """One camera stream served at `path`; every field has a JSON/CLI key of the same name."""

    path: str = "/cam"
    codec: str = "h264"  # h264 | h265
    width: int = 1280
    height: int = 720
    fps: int = 25
    bitrate_kbps: int = 2000
    gop_seconds: float = 4.0  # IDR spacing; key-int-max = round(fps * gop_seconds)
    pattern: str = "smpte"  # any videotestsrc pattern nick: smpte, ball, black, snow, ...
    overlay: str = "clock"  # clock (wall clock) | time (running time) | none
    frozen: bool = False  # one still picture, re-encoded at `fps` forever (imagefreeze)
    bframes: int = 0  # >0: B-frames, so packets have pts != dts (H.264 only)
    auth: tuple[str, ...] = ()  # () open; ("digest",), ("basic",) or both (both are advertised)
    user: str = "camera"
    password: str = "secret"
    tamperable: bool = False  # a layered scene that TAMPER commands change while it streams
    person: float = 0.0  # tamperable: a ball this share of the picture's height across moves in front
    audio: str = "none"  # none | aac | pcmu | pcma | opus: a 440 Hz sine as a second track (pay1)
    flash: float = 0.0  # >0: black/white picture and silence/beep switching together every flash/2 s

    def __post_init__(self) -> None:
        # Accept JSON lists and "digest+basic" strings for auth, normalised to a sorted tuple.
        auth = self.auth
        if isinstance(auth, str):
            auth = [a for a in re.split(r"[+, ]", auth) if a and a != "none"]
        object.__setattr__(self, "auth", tuple(sorted(set(auth))))
        if not _SAFE_PATH.match(self.path):
            raise ValueError(f"mount path must look like /name[/name...], got {self.path!r}")
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {self.codec!r}")
        if self.audio not in AUDIO_CHAINS:
            raise ValueError(f"audio must be one of {tuple(AUDIO_CHAINS)}, got {self.audio!r}")
        if self.overlay not in OVERLAYS:
            raise ValueError(f"overlay must be one of {OVERLAYS}, got {self.overlay!r}")
        if not _SAFE_TOKEN.match(self.pattern):
            raise ValueError(f"bad videotestsrc pattern {self.pattern!r}")
        if bad := set(self.auth) - set(AUTH_METHODS):
            raise ValueError(f"auth methods must be among {AUTH_METHODS}, got {sorted(bad)}")
        if self.bframes and self.codec != "h264":
            raise ValueError("bframes is only supported for codec h264")
        if min(self.width, self.height, self.fps, self.bitrate_kbps) <= 0 or self.gop_seconds <= 0 or self.bframes < 0:
            raise ValueError(f"sizes, fps, bitrate and GOP must be positive: {self}")
        if self.tamperable and self.frozen:
            raise ValueError("a tamperable mount freezes on the 'freeze' action, not with frozen=true")
        if not 0 <= self.person < 1 or (self.person and not self.tamperable):
            raise ValueError("person is a share of the picture's height (0..1) and needs tamperable=true")
        if self.flash < 0 or (self.flash and (self.audio == "none" or self.tamperable or self.frozen)):
            raise ValueError("flash is a period in seconds and needs a sound, on a plain (not tamperable, not frozen) mount")

    @property
    def gop_frames(self) -> int:
        return max(1, round(self.fps * self.gop_seconds))

    def to_json(self) -> dict:
        data = asdict(self)
        data["auth"] = list(self.auth)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Mount:
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown mount keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_cli(cls, spec: str) -> Mount:
        """`path=/cam,codec=h265,fps=15,frozen=1,auth=digest+basic` -> Mount (values typed per field)."""
        types = {f.name: f.type for f in fields(cls)}
        data: dict = {}
        for item in filter(None, spec.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in types:
                raise ValueError(f"bad --mount item {item!r}; expected key=value with key in {sorted(types)}")
            kind = types[key]
            if kind == "int":
                data[key] = int(value)
            elif kind == "float":
                data[key] = float(value)
            elif kind == "bool":
                data[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                data[key] = value
        return cls(**data)

    def elements(self) -> list[str]:
        """The GStreamer element names in this mount's pipeline (caps filters and pad references left out)."""
        names = (item.split(" ", 1)[0] for chain in self._chains() for item in chain)
        return [name for name in names if "/" not in name and "." not in name]

    def launch(self) -> str:
        """The gst-launch description of this mount's pipeline (payloader named pay0, as the server needs)."""
        return "( " + "   ".join(" ! ".join(chain) for chain in self._chains()) + " )"

    @property
    def pan_margin(self) -> int:
        """Tamperable: how far the view extends beyond the picture on each side (room to turn)."""
        return _even(self.width / 4)

    @property
    def blur_sigma(self) -> float:
        """Tamperable: the defocus, in pixels of this mount's width (gaussianblur's limit is 20)."""
        return min(20.0, self.width / 200)

    def _chains(self) -> list[list[str]]:
        caps = f"video/x-raw,format=I420,width={self.width},height={self.height},framerate={self.fps}/1"
        # Tamperable scenes come in any size; their clock keeps the 720p proportions of the others.
        font = f"Sans {max(8, round(32 * self.height / 720))}" if self.tamperable else "Sans 32"
        overlay = {
            "clock": [f'clockoverlay name=clock time-format="%H:%M:%S" font-desc="{font}"'],  # wall clock: eyeball latency
            "time": [f'timeoverlay font-desc="{font}"'],
            "none": [],
        }[self.overlay]
        layers: list[list[str]] = []
        if self.tamperable:
            chain, layers = self._scene(caps, overlay)
        elif self.flash:  # black until the controller (FlashControl) paints it white
            chain = [f"videotestsrc name={FLASH_PICTURE} is-live=true pattern=solid-color foreground-color={BLACK:#x}", caps, *overlay]
        elif self.frozen:
            # One buffer, then imagefreeze repeats it as a live stream at the caps' framerate.
            chain = [f"videotestsrc num-buffers=1 pattern={self.pattern}", caps, *overlay, "imagefreeze is-live=true", caps]
        else:
            chain = [f"videotestsrc is-live=true pattern={self.pattern}", caps, *overlay]
        # Encoder in its own thread; like a real camera, drop raw frames rather than fall behind the
        # live clock when the (shared, busy) test machine cannot keep up.
        chain.append("queue max-size-buffers=2 leaky=downstream")
        gop = self.gop_frames
        if self.codec == "h265":
            chain += [
                f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={self.bitrate_kbps} key-int-max={gop}",
                "video/x-h265,profile=main",
                "rtph265pay config-interval=1 pt=96 name=pay0",
            ]
        else:
            # x264enc applies its bframes property after the tune, so zerolatency (no lookahead, sliced
            # threads) still yields B-frames when asked; main is the lowest profile that allows them.
            chain += [
                f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={self.bitrate_kbps} key-int-max={gop} bframes={self.bframes}",
                "video/x-h264,profile=" + ("main" if self.bframes else "constrained-baseline"),
                "rtph264pay config-interval=1 pt=96 name=pay0",
            ]
        if self.flash:  # silent until the controller turns it up; 10 ms buffers: the switch lands on one
            layers.append([f"audiotestsrc name={FLASH_SOUND} is-live=true wave=sine freq=880 volume=0 samplesperbuffer=480",
                           "audio/x-raw,rate=48000,channels=1", "audioconvert", *AUDIO_CHAINS[self.audio]])
        elif self.audio != "none":
            layers.append(["audiotestsrc is-live=true wave=sine freq=440 volume=0.5", "audio/x-raw,rate=48000,channels=1",
                           "audioconvert", *AUDIO_CHAINS[self.audio]])
        return [chain, *layers]

    def _scene(self, caps: str, overlay: list[str]) -> tuple[list[str], list[list[str]]]:
        """A tamperable mount's picture: the compositor `scene` and the layers feeding it, bottom up:
        the view (pattern) at sink_0, the person (a ball, scaled up by the compositor) at sink_1, the
        flag over 70 % x 80 % at sink_2 and the cover at sink_3, both transparent until used. The
        lens (`lens`, gaussianblur), the light (`light`, videobalance) and the clock come after."""
        width, height, margin = self.width, self.height, self.pan_margin

        def layer(w: int, h: int) -> str:
            return f"video/x-raw,format=AYUV,width={w},height={h},framerate={self.fps}/1"

        pads = [f"sink_0::xpos={-margin}", f"sink_0::ypos={-margin}"]
        layers = [[f"videotestsrc name=view is-live=true pattern={self.pattern}", layer(width + 2 * margin, height + 2 * margin), "scene.sink_0"]]
        if self.person:
            ball_height = _even(40 / self.person)  # videotestsrc draws its ball 40 px across
            pads += [f"sink_1::width={width}", f"sink_1::height={height}"]
            layers.append(["videotestsrc name=person is-live=true pattern=ball background-color=0x00000000",
                           layer(_even(ball_height * width / height), ball_height), "scene.sink_1"])
        pads += [f"sink_2::width={_even(width * 0.7)}", f"sink_2::height={_even(height * 0.8)}", "sink_2::alpha=0",
                 f"sink_3::width={width}", f"sink_3::height={height}", "sink_3::alpha=0"]
        layers += [["videotestsrc name=flag is-live=true pattern=solid-color foreground-color=0xff2a6a9a", layer(16, 16), "scene.sink_2"],
                   ["videotestsrc name=cover is-live=true pattern=black", layer(16, 16), "scene.sink_3"]]
        chain = ["compositor name=scene background=black " + " ".join(pads), layer(width, height), "gaussianblur name=lens sigma=0",
                 "videoconvert", "videobalance name=light", *overlay, "videoconvert", caps]
        return chain, layers


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def default_mounts() -> list[Mount]:
    """The standard camera set: plain H.264, B-frames, H.265, a frozen picture, Digest and Basic auth."""
    return [
        Mount(path="/h264"),
        Mount(path="/h264-bframes", bframes=2),
        Mount(path="/h265", codec="h265"),
        Mount(path="/frozen", frozen=True, pattern="smpte", overlay="none"),
        Mount(path="/digest", auth=("digest",)),
        Mount(path="/basic", auth=("basic",)),
    ]


def _log(message: str) -> None:
    _write(sys.stderr, f"rtsp_camera_server[{os.getpid()}]: {message}")


def _event(message: str) -> None:
    _write(sys.stdout, message)


def _write(stream, line: str) -> None:
    # Our pipes are read by the parent; once it is gone they are broken. An exception here inside a
    # GLib callback would silently kill that callback (e.g. the parent watch), so never raise.
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):
        pass


class SceneControl:
    """What a tamperable mount's camera suffers now, applied to every pipeline built for it (a
    shared mount builds one, again after its last client left). `gst` is the Gst module, handed
    in by `serve`: this module imports only the standard library at top level."""

    def __init__(self, mount: Mount, gst):
        self.mount = mount
        self.action = "none"
        self._gst = gst
        self._bins: list = []
        self._blocked: dict[int, list] = {}  # id(bin) -> [(pad, probe id)] while frozen

    def add(self, pipeline) -> None:
        self._bins.append(pipeline)
        self._apply(pipeline)

    def remove(self, pipeline) -> None:
        self._bins = [b for b in self._bins if b is not pipeline]
        self._blocked.pop(id(pipeline), None)

    def set(self, action: str) -> None:
        self.action = action
        for pipeline in self._bins:
            self._apply(pipeline)

    def _apply(self, pipeline) -> None:
        mount, action, margin = self.mount, self.action, self.mount.pan_margin
        scene = pipeline.get_by_name("scene")
        view = scene.get_static_pad("sink_0")
        # Turned: panned by a quarter of the picture's width and tilted by an eighth.
        view.set_property("xpos", 0 if action == "turn" else -margin)
        view.set_property("ypos", -margin // 2 if action == "turn" else -margin)
        pipeline.get_by_name("lens").set_property("sigma", mount.blur_sigma if action == "blur" else 0.0)
        scene.get_static_pad("sink_2").set_property("alpha", 1.0 if action == "obstruct" else 0.0)
        scene.get_static_pad("sink_3").set_property("alpha", 1.0 if action == "cover" else 0.0)
        light = pipeline.get_by_name("light")
        light.set_property("brightness", -0.12 if action == "light" else 0.0)  # the lights dimmed: darker, less contrast
        light.set_property("contrast", 0.7 if action == "light" else 1.0)
        self._freeze(pipeline, action == "freeze")

    def _freeze(self, pipeline, frozen: bool) -> None:
        """Frozen: every layer's source is blocked, so the compositor repeats their last frames,
        and the clock shows the time it stopped at (as a camera whose picture hangs)."""
        blocked = self._blocked.pop(id(pipeline), [])
        for pad, probe in blocked:
            pad.remove_probe(probe)
        clock = pipeline.get_by_name("clock")
        if frozen:
            sources = [pipeline.get_by_name(name) for name in ("view", "person", "flag", "cover")]
            pads = [source.get_static_pad("src") for source in sources if source is not None]
            block, keep = self._gst.PadProbeType.BLOCK_DOWNSTREAM, self._gst.PadProbeReturn.OK
            self._blocked[id(pipeline)] = [(pad, pad.add_probe(block, lambda *_: keep)) for pad in pads]
        if clock is not None:
            clock.set_property("time-format", time.strftime("%H:%M:%S") if frozen else "%H:%M:%S")


def bind_flash(pipeline, period: float, controller) -> None:
    """A flash mount's pipeline: the picture's colour and the sound's volume follow two square
    waves of the same period and phase on the pipeline clock (GstController's LFO control source,
    low in the first half of each period; `controller` is the GstController module)."""

    def square(low: float, high: float):
        source = controller.LFOControlSource()
        source.set_property("waveform", controller.LFOWaveform.SQUARE)
        source.set_property("frequency", 1.0 / period)
        source.set_property("amplitude", (high - low) / 2)
        source.set_property("offset", (high + low) / 2)
        return source

    picture, sound = pipeline.get_by_name(FLASH_PICTURE), pipeline.get_by_name(FLASH_SOUND)
    # A direct binding maps the wave's 0..1 onto the property's range: the colour 0 (black; its
    # alpha means nothing in I420) to 0xFFFFFFFF (white), the volume 0 to 1.
    picture.add_control_binding(controller.DirectControlBinding.new(picture, "foreground-color", square(0.0, 1.0)))
    sound.add_control_binding(controller.DirectControlBinding.new(sound, "volume", square(0.0, FLASH_VOLUME)))


def missing_elements(mounts: list[Mount], find_element) -> list[str]:
    """One line per element the mounts need that `find_element(name)` does not find, naming its package."""
    needed = sorted({name for mount in mounts for name in mount.elements()})
    return [f"GStreamer element {name} is missing: install the Debian package {GSTREAMER_ELEMENT_PACKAGES.get(name, '?')}"
            for name in needed if find_element(name) is None]


def serve(mounts: list[Mount], port: int, parent_pid: int) -> int:
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        gi.require_version("GstController", "1.0")
        from gi.repository import GLib, Gst, GstController, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as exc:  # ValueError: gi has no such typelib
        _log(f"error: {exc}: install the Debian packages python3-gi and gir1.2-gst-rtsp-server-1.0")
        return MISSING_DEPENDENCY_EXIT

    Gst.init(None)
    if missing := missing_elements(mounts, Gst.ElementFactory.find):
        for line in missing:
            _log(f"error: {line}")
        return MISSING_DEPENDENCY_EXIT

    paths = [m.path for m in mounts]
    if len(set(paths)) != len(paths):
        raise ValueError(f"duplicate mount paths in {paths}")

    class CameraAuth(GstRtspServer.RTSPAuth):
        """RTSPAuth whose 401 challenge advertises only the methods of the mount that was asked for.

        Stock RTSPAuth has one server-wide method set and advertises all of it; FFmpeg then always
        picks the strongest (Digest), so a Basic-only camera could not be emulated. We chain up to the
        stock generator once per wanted method: that keeps its private Digest nonce bookkeeping.
        (set_supported_methods() takes the GstRTSPAuthMethod *enum*, so PyGObject refuses the
        BASIC|DIGEST bitmask value 3 — calling it once per method sidesteps that too.)
        """

        def __init__(self, methods_by_path: dict[str, tuple[str, ...]]):
            super().__init__()
            self.methods_by_path = methods_by_path

        def do_generate_authenticate_header(self, ctx) -> None:
            path = ctx.uri.abspath if ctx.uri is not None else ""
            # Match like the mount points do: longest mount path that prefixes the request path.
            best = max((p for p in self.methods_by_path if path == p or path.startswith(p + "/")), key=len, default=None)
            methods = self.methods_by_path.get(best) or AUTH_METHODS
            for method in ("basic", "digest"):  # Basic first, the order stock RTSPAuth uses
                if method in methods:
                    self.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC if method == "basic" else GstRtsp.RTSPAuthMethod.DIGEST)
                    GstRtspServer.RTSPAuth.do_generate_authenticate_header(self, ctx)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    mount_points = server.get_mount_points()

    # Roles: every distinct (method, user, password) gets its own role, so credentials registered for
    # a Basic mount do not open a Digest-only mount; unauthenticated clients get "anonymous". Every role
    # may *access* every factory, but only allowed roles may *construct* it. That split is essential:
    # gst-rtsp-server answers a denied *access* with 404 Not Found (no challenge, so clients never send
    # credentials), whereas a denied *construct* gives 401 with WWW-Authenticate.
    protected = [m for m in mounts if m.auth]
    auth = None
    roles: dict[tuple[str, str, str], str] = {}
    if protected:
        auth = CameraAuth({m.path: m.auth for m in protected})
        auth.set_realm("PantauTestCamera")
        anonymous = GstRtspServer.RTSPToken()
        anonymous.set_string("media.factory.role", "anonymous")
        auth.set_default_token(anonymous)
        digest_passwords: dict[str, str] = {}
        for mount in protected:
            for method in mount.auth:
                key = (method, mount.user, mount.password)
                if key in roles:
                    continue
                roles[key] = f"{method}{len(roles)}"
                token = GstRtspServer.RTSPToken()
                token.set_string("media.factory.role", roles[key])
                # Credential tables are server-wide: Basic is keyed by base64(user:password), Digest by
                # user alone, so one Digest user cannot have two passwords on one server.
                if method == "basic":
                    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(mount.user, mount.password), token)
                else:
                    if digest_passwords.setdefault(mount.user, mount.password) != mount.password:
                        raise ValueError(f"digest user {mount.user!r} has different passwords on different mounts")
                    auth.add_digest(mount.user, mount.password, token)
        server.set_auth(auth)

    controls: dict[str, SceneControl] = {}
    for mount in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(mount.launch())
        if mount.tamperable:
            control = controls[mount.path] = SceneControl(mount, Gst)

            def configured(_factory, media, control=control) -> None:
                pipeline = media.get_element()
                control.add(pipeline)
                media.connect("unprepared", lambda _media: control.remove(pipeline))

            factory.connect("media-configure", configured)
        if mount.flash:
            factory.connect("media-configure", lambda _factory, media, period=mount.flash:
                            bind_flash(media.get_element(), period, GstController))
        factory.set_shared(True)  # one pipeline (one encoder) per mount, whatever the client count
        # Make the media non-seekable, like a real camera (SDP then says a=range:npt=now-). By default
        # every PLAY with a Range header (FFmpeg always sends "npt=0.000-") does a flushing seek on the
        # *shared* pipeline: each newly joining client resets the RTP timestamps of everyone already
        # watching (a backwards jump of the elapsed time) and forces an early IDR, breaking the GOP.
        # In 1.22 this clock mode is what makes gst-rtsp-server treat the media as unseekable.
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if auth is not None:
            everyone = ["anonymous", *roles.values()]
            allowed = {roles[(method, mount.user, mount.password)] for method in mount.auth} if mount.auth else set(everyone)
            for role in everyone:
                construct = "true" if role in allowed else "false"
                factory.add_role_from_structure(
                    Gst.Structure.new_from_string(f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean){construct}")
                )
        mount_points.add_factory(mount.path, factory)
        _log(f"mount {mount.path}: {mount.launch()}" + (f" auth={'+'.join(mount.auth)} user={mount.user}" if mount.auth else ""))

    loop = GLib.MainLoop()
    source_id = server.attach(None)
    if not source_id:
        _log(f"could not listen on 127.0.0.1:{port}")
        return 2
    bound = server.get_bound_port()

    def on_client_connected(_server, client) -> None:
        ip = client.get_connection().get_ip()
        _event(f"CLIENT-CONNECTED {ip}")
        client.connect("closed", lambda _client: _event(f"CLIENT-CLOSED {ip}"))

    server.connect("client-connected", on_client_connected)

    pending = bytearray()

    def on_command(fd: int, condition) -> bool:
        """`TAMPER <path> <action>` lines on stdin."""
        data = os.read(fd, 4096) if condition & GLib.IOCondition.IN else b""
        if not data:
            return GLib.SOURCE_REMOVE  # stdin closed: no more commands
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            words = line.decode(errors="replace").split()
            if len(words) == 3 and words[0] == "TAMPER" and words[1] in controls and words[2] in TAMPER_ACTIONS:
                controls[words[1]].set(words[2])
                _event(f"TAMPERED {words[1]} {words[2]}")
            elif words:
                _log(f"ignored command {line[:100]!r}: expected TAMPER <tamperable mount> <{'|'.join(TAMPER_ACTIONS)}>")
        return GLib.SOURCE_CONTINUE

    GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_command)

    def quit_loop(reason: str) -> bool:
        loop.quit()
        _log(f"stopping: {reason}")
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop, "SIGTERM")
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop, "SIGINT")

    watching_own_parent = parent_pid == os.getppid()

    def watch_parent() -> bool:
        # Never outlive the test that started us. For our own parent, re-parenting is the exact signal
        # (immune to pid reuse); a --parent-pid further up the tree can only be probed with kill(0).
        gone = os.getppid() != parent_pid if watching_own_parent else not _pid_alive(parent_pid)
        if gone:
            return quit_loop(f"parent {parent_pid} is gone")
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add(200, watch_parent)

    _event(f"READY rtsp://127.0.0.1:{bound}")
    _log(f"listening on 127.0.0.1:{bound}")
    loop.run()

    # Orderly shutdown: stop accepting, drop clients (which tears their shared media down), then let
    # the main context run briefly so the pipelines reach NULL before the process goes away.
    GLib.Source.remove(source_id)
    server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
    context = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + 500_000
    while GLib.get_monotonic_time() < deadline and context.iteration(False):
        pass
    _log("stopped")
    return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_args(argv: list[str]) -> tuple[list[Mount], int, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--config", help='JSON {"mounts": [{...}, ...]} or a bare list, or @path to a JSON file')
    parser.add_argument("--mount", action="append", default=[], metavar="KEY=VAL,...", help="add a mount, e.g. path=/cam,codec=h265")
    parser.add_argument("--parent-pid", type=int, default=os.getppid(), help="exit when this process dies (default: our parent)")
    args = parser.parse_args(argv)

    mounts: list[Mount] = []
    if args.config:
        text = args.config
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        config = json.loads(text)
        items = config["mounts"] if isinstance(config, dict) else config
        mounts += [Mount.from_json(item) for item in items]
    mounts += [Mount.from_cli(spec) for spec in args.mount]
    return mounts or default_mounts(), args.port, args.parent_pid


def main(argv: list[str] | None = None) -> int:
    try:
        mounts, port, parent_pid = parse_args(sys.argv[1:] if argv is None else argv)
        return serve(mounts, port, parent_pid)
    except (ValueError, KeyError, OSError) as exc:
        _log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    # Every line was flushed when written; _exit skips interpreter teardown, which could only fail on
    # pipes a dead parent left broken or wait on GStreamer's leftover threads.
    os._exit(main())
