"""The floor of any PyAV-based ingest: N threads that only demux one RTSP URL each, with the
product's own open options (pantau/media/rtsp_open.py) and nothing done per packet.

    .venv/bin/python bench/pyav_demux.py URL N PROGRESS_FILE

bench/ingest.py runs it beside `ffmpeg -c copy` and the node. It writes `frame=<total>` to
PROGRESS_FILE every 2 s (ffmpeg's -progress format), so the bench can check packets flow,
and runs until it is terminated.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from pantau.media.rtsp_open import RtspSettings, open_rtsp, video_stream  # noqa: E402


def demux_forever(url: str, counts: list[int], index: int) -> None:
    container = open_rtsp(url, "tcp", RtspSettings(), arm_read_timeout=False)
    stream = video_stream(container)
    for _packet in container.demux(stream):
        counts[index] += 1


def main() -> int:
    url, cameras, progress = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    counts = [0] * cameras
    for index in range(cameras):
        threading.Thread(target=demux_forever, args=(url, counts, index), daemon=True).start()
    while True:
        time.sleep(2)
        progress.write_text(f"frame={sum(counts)}\n")


if __name__ == "__main__":
    sys.exit(main())
