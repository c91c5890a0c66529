#!/usr/bin/python3
"""The test RTSP camera (rtsp_camera_server.py, same arguments and output) with its mounts left
seekable: then every client that joins a shared mount makes GStreamer seek the mount's one
pipeline, and the timestamps of every client already watching jump back by the mount's age
while their connections stay up (issue 13). Some NVRs and camera servers do the like; Pantau
must go on across such a jump. Start it through RtspCameraServer with
`SERVER_SCRIPT` pointed here (see tests/test_failover.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402 - Debian's interpreter has it; the venv does not import this file

gi.require_version("GstRtspServer", "1.0")
import rtsp_camera_server  # noqa: E402
from gi.repository import GstRtspServer  # noqa: E402

# CLOCK_AND_OFFSET is what makes the stock test camera unseekable: leave the default instead.
GstRtspServer.RTSPMediaFactory.set_publish_clock_mode = lambda _factory, _mode: None

if __name__ == "__main__":
    os._exit(rtsp_camera_server.main())
