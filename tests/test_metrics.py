"""GET /metrics (Prometheus text format) on real processes with a GStreamer camera streaming:
it parses with prometheus_client's own parser, counters move while the camera streams, HTTP
requests are labelled by route (never the raw path), only the metrics, operator or admin token
may scrape, per-camera series only when asked for, a `pantau ingest` process on a site serves
its own; the Grafana dashboard uses only names that exist; `--log-format json` lines parse and
carry no password."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pantau.access.redaction import MASK, known_secrets, setup_logging
from tests.conftest import RedisServer, RelayNode
from tests.support.rtsp_camera import Mount, RtspCameraServer
from tests.support.whep_client import WhepViewer

pytestmark = pytest.mark.timeout(150)
SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 600, "gop_seconds": 1}
PASSWORD = "Metrics-cam-pw-4417"
DASHBOARD = Path(__file__).parent.parent / "configs" / "grafana-pantau.json"


class Scrape:
    """One /metrics answer, parsed by prometheus_client's parser."""

    def __init__(self, text: str):
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        matching = [s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert matching, f"no sample {name}{labels} in:\n" + "\n".join(sorted({s.name for s in self.samples}))
        return sum(matching)

    def names(self) -> set[str]:
        """Family names and sample names (counters' _total, histograms' _bucket/_sum/_count)."""
        return set(self.families) | {s.name for s in self.samples}


def get(url: str, token: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def scrape(base_url: str, token: str) -> Scrape:
    status, kind, text = get(base_url + "/metrics", token)
    assert status == 200 and kind.startswith("text/plain; version=0.0.4"), (status, kind, text[:300])
    return Scrape(text)


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} never came true within {timeout} s")


@pytest.fixture
def camera(tmp_path):
    server = RtspCameraServer([Mount(path="/auth", auth=("digest",), user="op", password=PASSWORD, **SMALL)],
                              log_dir=tmp_path / "cam").start()
    yield server
    server.stop()


@pytest.fixture
def tokens() -> dict[str, str]:
    return {"metrics": "mtr-" + secrets.token_urlsafe(16), "operator": "opr-" + secrets.token_urlsafe(16)}


def metrics_env(base: dict[str, str], tokens: dict[str, str], **extra: str) -> dict[str, str]:
    return {**base, "PANTAU_RELAY__ICE__INCLUDE_LOOPBACK": "true", "PANTAU_INGEST__BACKOFF_INITIAL_S": "0.3",
            "PANTAU_INGEST__BACKOFF_CAP_S": "1.0", "PANTAU_METRICS__TOKEN": tokens["metrics"],
            "PANTAU_OPERATOR_TOKEN": tokens["operator"], **extra}


async def test_a_streaming_node_serves_metrics_that_move(start_node, node_env, tokens, camera, tmp_path):
    node = RelayNode(start_node("--no-demo", "--log-format", "json", "--data-dir", str(tmp_path / "d"),
                                env=metrics_env(node_env, tokens)), node_env["PANTAU_ADMIN_TOKEN"])
    node.add_camera("cam", camera.url("/auth", "op", PASSWORD))
    node.wait_state("cam", "online")

    # Who may scrape: the metrics token, an operator or an admin token; nobody else.
    assert get(node.url + "/metrics")[0] == 401
    assert get(node.url + "/metrics", "not-" + tokens["metrics"])[0] == 401
    for token in (tokens["metrics"], tokens["operator"], node.admin_token):
        assert get(node.url + "/metrics", token)[0] == 200

    first = scrape(node.url, tokens["metrics"])
    viewer = await WhepViewer(node.url, "cam").start()
    try:
        await viewer.wait_frames(30)
        second = await asyncio.to_thread(wait_for, lambda: (s := scrape(node.url, tokens["metrics"]))
                                         .value("pantau_relay_latency_seconds_count") > 0 and s, 10, "latency samples")
        assert second.value("pantau_relay_viewers", protocol="whep", audience="public") == 1
    finally:
        await viewer.close()

    assert second.value("pantau_node_info", role="serve") == 1
    # Counters that move while the camera streams.
    for name in ("pantau_ingest_packets_total", "pantau_ingest_bytes_total", "pantau_ingest_keyframes_analysed_total",
                 "pantau_ingest_keyframe_analysis_seconds_total"):
        assert second.value(name) > first.value(name) > 0, name
    assert second.value("pantau_ingest_bytes_total") - first.value("pantau_ingest_bytes_total") > 10_000
    assert second.value("pantau_ingest_cameras", state="online", reason="") == 1
    assert second.value("pantau_ingest_sources") == 1 and second.value("pantau_ingest_sessions_total") >= 1
    assert second.value("pantau_ingest_pictures", picture="ok") == 1
    # The relay-added latency histogram: cumulative buckets ending in +Inf == count.
    buckets = sorted((float(s.labels["le"]), s.value) for s in second.samples if s.name == "pantau_relay_latency_seconds_bucket")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1] == (float("inf"), second.value("pantau_relay_latency_seconds_count"))
    # HTTP requests by route (canonical path) and status, never the raw path.
    assert second.value("pantau_http_requests_total", route="/api/admin/cameras/{id}", method="GET", status="200") >= 1
    assert second.value("pantau_http_requests_total", route="/metrics", method="GET", status="401") == 2
    assert second.value("pantau_http_requests_total", route="/whep/{id}", method="POST", status="201") == 1
    routes = {s.labels["route"] for s in second.samples if s.name == "pantau_http_requests_total"}
    assert not [r for r in routes if "cam" in r.replace("cameras", "")], routes
    # Per-camera series are off by default; no secret in the answer.
    assert not [s for s in second.samples if "camera" in s.labels], "per-camera series without metrics.per_camera"
    assert PASSWORD not in second.text and tokens["metrics"] not in second.text

    # --log-format json: every log line is one JSON object; the camera's password is in none.
    node.node.stop()
    lines = [line for line in node.node.output().splitlines() if line.strip() and not line.startswith("Pantau is running at")]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "pantau.access" and "GET /metrics" in r["message"] for r in records)
    assert PASSWORD not in node.node.output()


def test_per_camera_series_only_when_enabled(start_node, node_env, tokens, camera, tmp_path):
    env = metrics_env(node_env, tokens, PANTAU_METRICS__PER_CAMERA="true")
    node = RelayNode(start_node("--no-demo", "--data-dir", str(tmp_path / "d"), env=env), node_env["PANTAU_ADMIN_TOKEN"])
    node.add_camera("cam", camera.url("/auth", "op", PASSWORD))
    node.wait_state("cam", "online")
    first = scrape(node.url, tokens["operator"])
    second = wait_for(lambda: (s := scrape(node.url, tokens["operator"])).value("pantau_camera_packets_total", camera="cam")
                      > first.value("pantau_camera_packets_total", camera="cam") and s, 10, "per-camera packets moving")
    assert second.value("pantau_camera_bytes_total", camera="cam") > 0
    assert second.value("pantau_camera_up", camera="cam") == 1 and second.value("pantau_camera_fps", camera="cam") > 0
    assert "pantau_camera_viewers" in second.families  # a camera appears there once someone watches it
    # The aggregates are there as well.
    assert second.value("pantau_ingest_packets_total") >= second.value("pantau_camera_packets_total", camera="cam")


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] for p in [p, *p.get("panels", [])]]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: label matchers, ranges, grouping clauses,
    strings, numbers and function names taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr):
        if match.group(1).lower() not in PROMQL_WORDS:
            names.add(match.group(1))
    return names


def test_grafana_dashboard_loads_and_every_panel_queries():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    expressions = dashboard_expressions()
    assert len(expressions) >= 20 and all(metric_names(e) for e in expressions)
    assert metric_names('sum by (route, status) (rate(pantau_http_requests_total{status=~"5.."}[$__rate_interval])) * 60') == {
        "pantau_http_requests_total"}


async def test_site_processes_serve_metrics_and_the_dashboard_names_exist(start_node, node_env, tokens, camera, tmp_path):
    """A relay and a `pantau ingest` worker on a registry and a bus Redis: each process answers
    /metrics with what it has; together they expose every name the dashboard reads."""
    (tmp_path / "bus").mkdir()
    registry, bus = RedisServer(tmp_path), RedisServer(tmp_path / "bus", persistent=False)
    registry.start()
    bus.start()
    try:
        env = metrics_env(node_env, tokens)
        common = ["--redis-url", registry.url, "--bus-redis-url", bus.url]
        relay = RelayNode(start_node(*common, "--data-dir", str(tmp_path / "relay"), "--node-id", "relay-1", env=env, command="relay"),
                          node_env["PANTAU_ADMIN_TOKEN"])
        worker = start_node(*common, "--data-dir", str(tmp_path / "ingest"), "--node-id", "ingest-1", env=env, command="ingest")
        relay.add_camera("cam", camera.url("/auth", "op", PASSWORD))
        relay.wait_state("cam", "online", 30)

        assert get(worker.url + "/metrics")[0] == 401
        assert get(worker.url + "/metrics", "wrong-token")[0] == 401
        assert get(worker.url + "/metrics", tokens["operator"])[0] == 200
        before = scrape(worker.url, tokens["metrics"])
        viewer = await WhepViewer(relay.url, "cam").start()  # demand: the worker publishes onto the bus
        try:
            await viewer.wait_frames(30)
            ingest = await asyncio.to_thread(wait_for, lambda: (s := scrape(worker.url, tokens["metrics"]))
                                             .value("pantau_bus_published_packets_total") > 0 and s, 10, "bus packets")
            site_relay = scrape(relay.url, tokens["metrics"])
        finally:
            await viewer.close()
        assert ingest.value("pantau_node_info", node="ingest-1", role="ingest") == 1
        assert ingest.value("pantau_ingest_cameras", state="online", reason="") == 1
        assert ingest.value("pantau_ingest_packets_total") > before.value("pantau_ingest_packets_total") > 0
        assert ingest.value("pantau_bus_published_bytes_total") > 0 and ingest.value("pantau_bus_write_lag_seconds") >= 0
        assert ingest.value("pantau_http_requests_total", route="/metrics", method="GET", status="401") == 2
        assert site_relay.value("pantau_node_info", node="relay-1", role="relay") == 1
        assert site_relay.value("pantau_bus_read_packets_total") > 0
        assert 0 < site_relay.value("pantau_bus_read_lag_seconds") < 5
        assert "pantau_ingest_cameras" not in site_relay.families  # a relay runs no sources
        assert site_relay.value("pantau_registry_cameras") == 1

        exposed = ingest.names() | site_relay.names()
        used = set().union(*map(metric_names, dashboard_expressions()))
        assert used and not used - exposed, f"the dashboard reads names no process exposes: {sorted(used - exposed)}"
    finally:
        bus.stop()
        registry.stop()


async def test_open_alerts_by_kind(registry, tmp_path, tokens):
    """pantau_alerts_open counts the site's unacknowledged alerts by kind (pantau/monitoring/alerts.py), on
    both registry backends; an acknowledged one leaves the count."""
    from aiohttp.test_utils import TestClient, TestServer

    from pantau.access.tokens import TokenStore
    from pantau.bus.memory_bus import InProcessBus
    from pantau.cameras.audit_log import Actor
    from pantau.cameras.camera import validate_camera
    from pantau.monitoring.alerts import AlertStore
    from pantau.runtime.config import load_settings
    from relay.app import create_app

    settings = load_settings(data_dir=tmp_path, metrics={"token": tokens["metrics"]})
    client = TestClient(TestServer(create_app(settings, registry, TokenStore(registry.redis, {}), InProcessBus())))
    await client.start_server()
    try:
        async def open_alerts() -> dict[str, float]:
            response = await client.get("/metrics", headers={"Authorization": f"Bearer {tokens['metrics']}"})
            assert response.status == 200
            scrape = Scrape(await response.text())
            assert "pantau_alerts_open" in scrape.families
            return {s.labels["kind"]: s.value for s in scrape.samples if s.name == "pantau_alerts_open"}

        assert await open_alerts() == {}
        store = AlertStore(registry.redis)
        now = "2024-02-14T09:00:00.000Z"
        cameras = [validate_camera({"id": f"cam{n}", "kind": "tps", "region": "31.71.01.1001", "tps": n, "source": "demo"},
                                   registry.regions) for n in (1, 2, 3)]
        black = [(await store.raise_alert(camera, "black", now, now))[1] for camera in cameras[:2]]
        await store.raise_alert(cameras[2], "offline", now, now)
        assert await open_alerts() == {"black": 2, "offline": 1}
        await store.acknowledge(black[0]["id"], Actor("ops-jakpus"), "sudah ditangani")
        assert await open_alerts() == {"black": 1, "offline": 1}
    finally:
        await client.close()


def test_json_log_lines_are_redacted():
    """A camera password in a log record (its arguments, an exception, a registered secret)
    never reaches the JSON line."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    registered = "Bare-secret-" + secrets.token_hex(4)
    known_secrets.add(registered)
    try:
        setup_logging("INFO", "json")
        root.handlers[0].setStream(stream)
        log = logging.getLogger("ingest.test")
        log.info("camera %s: opening %s", "cam", f"rtsp://admin:{PASSWORD}@10.0.0.5:554/stream1")
        log.warning("camera uses ?user=op&password=%s and %s", PASSWORD, registered)
        try:
            raise ConnectionError(f"rtsp://admin:{PASSWORD}@10.0.0.5:554/stream1: 401 Unauthorized")
        except ConnectionError:
            log.exception("camera %s failed", "cam")
        log.info("ünïcödé and \"quotes\"\nand a newline")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = stream.getvalue()
    lines = text.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    assert PASSWORD not in text and registered not in text
    assert records[0] == {**records[0], "level": "INFO", "logger": "ingest.test",
                          "message": f"camera cam: opening rtsp://admin:{MASK}@10.0.0.5:554/stream1"}
    assert records[1]["message"] == f"camera uses ?user=op&password={MASK} and {MASK}"
    assert records[2]["message"] == "camera cam failed" and "ConnectionError" in records[2]["exception"]
    assert MASK in records[2]["exception"] and "Traceback" in records[2]["exception"]
    assert records[3]["message"] == "ünïcödé and \"quotes\"\nand a newline" and "exception" not in records[3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"])
