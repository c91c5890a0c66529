"""A bench-only probe of the garbage collector's pauses in a Pantau node (bench/relay.py's
question: do GC passes make the relay-added latency's tail?). Loaded by Python at start-up
when this folder is on PYTHONPATH; active only in a `python -m pantau.cli` process (bench/processes.py's nodes) and only when
RELAY_PROBE_DIR is set (node_env passes both through):

    RELAY_PROBE_DIR=/tmp/probe PYTHONPATH=bench/relay_probe .venv/bin/python bench/relay.py ...

Every collection's generation, start (time.time()) and duration (and after a full pass the
objects the collector tracks and how many of them are frozen) go to
$RELAY_PROBE_DIR/gc-<pid>.json, rewritten every 2 s by a daemon thread. Nothing else changes,
unless RELAY_PROBE_SWITCH_INTERVAL is set (seconds): then the node's GIL switch interval is that
(`sys.setswitchinterval`; Python's default 0.005), to see whether the event loop's wait for the
GIL held by ingest's threads in the same process is part of the tail.

It also keeps, per frame a camera task sent, the number of live viewers and the first and the
last viewer's relay-added latency (wrapping `RelayLatency.extend`, called once a frame with every
viewer's sample): the per-frame figure `/metrics` gave before it counted every viewer.
"""

import os
import sys

if os.environ.get("RELAY_PROBE_DIR") and "pantau.cli" in getattr(sys, "orig_argv", ()):
    import gc
    import json
    import threading
    import time

    _path = os.path.join(os.environ["RELAY_PROBE_DIR"], f"gc-{os.getpid()}.json")
    # (generation, start, seconds, objects the collector tracks after a full pass, frozen ones)
    _passes: list[tuple[int, float, float, int, int]] = []
    _started: list[float] = [0.0, 0.0]

    def _on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            _started[:] = time.perf_counter(), time.time()
            return
        seconds = time.perf_counter() - _started[0]
        full = info["generation"] == 2  # (counting objects walks them: after a full pass only, outside its time)
        tracked = len(gc.get_objects()) if full else 0
        _passes.append((info["generation"], _started[1], seconds, tracked, gc.get_freeze_count() if full else 0))

    # (time, viewers, the first viewer's and the last viewer's latency in seconds), per frame of
    # a camera task: its one `RelayLatency.extend` call per frame has every viewer's sample
    _frames: list[tuple[float, int, float, float]] = []

    def _watch_frames() -> None:
        from relay.webrtc.relay_latency import RelayLatency

        extend = RelayLatency.extend

        def extend_and_keep(self, samples) -> None:
            samples = list(samples)
            if samples:
                _frames.append((time.time(), len(samples), min(samples), max(samples)))
            extend(self, samples)

        RelayLatency.extend = extend_and_keep

    def _write() -> None:
        while True:
            time.sleep(2.0)
            with open(_path + ".tmp", "w") as out:
                json.dump({"argv": sys.orig_argv, "passes": list(_passes), "frames": list(_frames)}, out)
            os.replace(_path + ".tmp", _path)

    _watch_frames()

    if os.environ.get("RELAY_PROBE_SWITCH_INTERVAL"):  # an experiment: the GIL's hand-over interval (default 5 ms)
        sys.setswitchinterval(float(os.environ["RELAY_PROBE_SWITCH_INTERVAL"]))
    gc.callbacks.append(_on_gc)
    threading.Thread(target=_write, daemon=True, name="gc-probe").start()
