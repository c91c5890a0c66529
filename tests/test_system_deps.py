"""The test machine's own dependencies: every system part a fixture uses is named with its Debian
package, checked before it is needed, and installed by scripts/test.sh (a fresh machine once failed
30+ tests on one missing GStreamer plugin package)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.support.rtmp_server import RTMP_MODULE_PACKAGE
from tests.support.rtsp_camera import Mount, RtspCameraError, RtspCameraServer
from tests.support.rtsp_camera_server import GSTREAMER_ELEMENT_PACKAGES, OVERLAYS, missing_elements
from tests.support.system_deps import DEBIAN_BINARIES, missing_binary

TEST_SCRIPT = Path(__file__).parent.parent / "scripts" / "test.sh"


def every_mount_variant() -> list[Mount]:
    variants = itertools.product(("h264", "h265"), OVERLAYS, (False, True), (0, 2))
    mounts = [Mount(codec=codec, overlay=overlay, frozen=frozen, bframes=bframes)
              for codec, overlay, frozen, bframes in variants if not (bframes and codec != "h264")]
    # Tamperable scenes (tests/test_tamper_cameras.py): a compositor of layers, blur, light.
    return mounts + [Mount(tamperable=True, overlay=overlay, person=person) for overlay in OVERLAYS for person in (0.0, 0.5)]


def installed_by_test_script() -> set[str]:
    """Package names on the `ensure_apt_packages` lines of scripts/test.sh."""
    text = TEST_SCRIPT.read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if "ensure_apt_packages" in line and not line.lstrip().startswith("#")]
    return {word for line in lines for word in re.findall(r"(?<![\w$-])[a-z0-9][a-z0-9.+-]+", line.split("ensure_apt_packages", 1)[1])}


def test_every_camera_element_is_mapped_to_a_debian_package():
    used = {name for mount in every_mount_variant() for name in mount.elements()}
    assert {"videotestsrc", "clockoverlay", "x264enc", "x265enc", "rtph264pay", "imagefreeze", "compositor", "gaussianblur",
            "videobalance"} <= used
    assert used <= set(GSTREAMER_ELEMENT_PACKAGES), f"elements with no package named: {used - set(GSTREAMER_ELEMENT_PACKAGES)}"


def test_a_missing_element_is_reported_with_its_package():
    lines = missing_elements([Mount(overlay="clock")], lambda name: None if name == "clockoverlay" else object())
    assert lines == ["GStreamer element clockoverlay is missing: install the Debian package gstreamer1.0-x"]
    assert missing_elements([Mount(overlay="none")], lambda name: None if name == "clockoverlay" else object()) == []


def test_test_script_installs_every_package_the_fixtures_name():
    installed = installed_by_test_script()
    needed = {package for package in GSTREAMER_ELEMENT_PACKAGES.values() if package != "libgstreamer1.0-0"}
    needed |= {DEBIAN_BINARIES[b] for b in ("redis-server", "/usr/bin/python3", "/usr/bin/chromium", "ffmpeg")}
    needed |= {"python3-gi", "gir1.2-gst-rtsp-server-1.0", RTMP_MODULE_PACKAGE}
    assert needed <= installed, f"scripts/test.sh does not install {sorted(needed - installed)}"


def test_a_missing_binary_names_its_package():
    assert missing_binary("redis-server") is None  # the suite's own Redis is there
    message = missing_binary("/usr/bin/pantau-no-such-binary")
    assert message is not None and "pantau-no-such-binary is missing" in message


def test_the_camera_server_fails_at_once_naming_the_package(tmp_path, monkeypatch):
    """The fresh machine's failure, reproduced: GStreamer sees every installed plugin but pango (the
    one gstreamer1.0-x ships); the camera exits before listening, and start() names the package."""
    plugin_dirs = [d for d in Path("/usr/lib").glob("*/gstreamer-1.0") if (d / "libgstpango.so").exists()]
    if not plugin_dirs:
        pytest.fail("GStreamer's pango plugin is missing: install the Debian package gstreamer1.0-x", pytrace=False)
    without_pango = tmp_path / "plugins"
    without_pango.mkdir()
    for plugin in plugin_dirs[0].glob("libgst*.so"):
        if plugin.name != "libgstpango.so":
            (without_pango / plugin.name).symlink_to(plugin)
    monkeypatch.setenv("GST_PLUGIN_SYSTEM_PATH_1_0", str(without_pango))
    monkeypatch.setenv("GST_PLUGIN_PATH_1_0", "")
    monkeypatch.setenv("GST_REGISTRY_1_0", str(tmp_path / "registry.bin"))
    camera = RtspCameraServer([Mount(path="/cam", overlay="clock")])
    with pytest.raises(RtspCameraError) as raised:
        camera.start(timeout=20)
    assert "exited with code 3" in str(raised.value)
    assert "GStreamer element clockoverlay is missing: install the Debian package gstreamer1.0-x" in str(raised.value)
