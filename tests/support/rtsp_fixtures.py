"""pytest fixtures for the RTSP test camera.

Enable them in tests/conftest.py (or a test module) with::

    pytest_plugins = ["tests.support.rtsp_fixtures"]

or import them there: `from tests.support.rtsp_fixtures import rtsp_camera_factory, rtsp_camera_server  # noqa: F401`.

`rtsp_camera_server` is the default camera set (see `default_mounts()`), started and always stopped.
Give it other mounts by indirect parametrisation::

    @pytest.mark.parametrize("rtsp_camera_server", [[Mount(path="/cam", gop_seconds=1)]], indirect=True)
    def test_x(rtsp_camera_server): ...

`rtsp_camera_factory` starts any number of cameras inside one test: `start(mounts=None, port=0)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from .rtsp_camera import Mount, RtspCameraServer

RtspCameraFactory = Callable[..., RtspCameraServer]


@pytest.fixture
def rtsp_camera_factory(tmp_path: Path) -> Iterator[RtspCameraFactory]:
    cameras: list[RtspCameraServer] = []

    def start(mounts: Iterable[Mount] | None = None, port: int = 0) -> RtspCameraServer:
        log_dir = tmp_path / f"rtsp-camera-{len(cameras)}"  # start-N.log per (re)start, kept for post-mortems
        log_dir.mkdir()
        camera = RtspCameraServer(mounts, port=port, log_dir=log_dir)
        cameras.append(camera)  # registered before start(): a failed start is cleaned up too
        return camera.start()

    yield start
    for camera in cameras:
        camera.stop(timeout=3)


@pytest.fixture
def rtsp_camera_server(request: pytest.FixtureRequest, rtsp_camera_factory: RtspCameraFactory) -> RtspCameraServer:
    return rtsp_camera_factory(getattr(request, "param", None))
