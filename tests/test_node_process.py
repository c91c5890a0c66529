"""`pantau serve` as a real process: demo set, persistence across restarts, kill -9 and Redis
restarts, and the CLI next to a running node. Every log line is scanned for passwords."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import PANTAU

PASSWORD = "Node-pw-31337"


def http(method: str, url: str, token: str | None = None, body: bytes | None = None, content_type: str = "application/json"):
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def add_camera(node, token: str, number: int = 1) -> None:
    body = json.dumps({"kind": "tps", "region": "31.71.01.1001", "tps": number, "source": f"rtsp://admin:{PASSWORD}@10.0.0.{number}/s"}).encode()
    status, data = http("POST", f"{node.url}/api/admin/cameras", token, body)
    assert status == 201, data


def camera_ids(node) -> set[str]:
    return {c["id"] for c in http("GET", f"{node.url}/api/cameras?limit=5000")[1]["cameras"]}


def embedded_redis_pids(data_dir: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["name", "cwd"]):
        try:
            if (proc.info["name"] or "").startswith("redis-server") and proc.info["cwd"] == str((data_dir / "redis").resolve()):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_embedded_default_demo_set_and_regions(start_node, tmp_path):
    node = start_node("--data-dir", str(tmp_path / "d"))
    status, tree = http("GET", f"{node.url}/api/regions")
    assert status == 200 and tree["totals"] == {"kota": 6, "kecamatan": 44, "kelurahan": 267}
    cameras = http("GET", f"{node.url}/api/cameras?limit=5000")[1]["cameras"]
    assert sum(c["kind"] == "recap" for c in cameras) == 44 and sum(c["kind"] == "tps" for c in cameras) == 132
    node.stop()


def test_no_demo_and_generated_admin_token(start_node, tmp_path, node_env):
    env = {k: v for k, v in node_env.items() if k != "PANTAU_ADMIN_TOKEN"}
    node = start_node("--no-demo", "--data-dir", str(tmp_path / "d"), env=env)
    assert http("GET", f"{node.url}/api/cameras")[1]["total"] == 0
    tokens = [line.rsplit(" ", 1)[1] for line in node.output().splitlines() if line.startswith("Admin token")]
    assert len(tokens) == 1
    add_camera(node, tokens[0])
    node.stop()
    node.start()  # printed once: not again on the next start
    assert sum(line.startswith("Admin token") for line in node.output().splitlines()) == 1
    assert http("GET", f"{node.url}/api/admin/cameras", tokens[0])[0] == 200


def test_embedded_survives_restart_and_kill_9(start_node, tmp_path, node_env):
    data_dir = tmp_path / "d"
    node = start_node("--no-demo", "--data-dir", str(data_dir))
    token = node_env["PANTAU_ADMIN_TOKEN"]
    add_camera(node, token, 1)
    node.stop()
    assert node.process.returncode == 0
    assert wait_until(lambda: not embedded_redis_pids(data_dir)), "a clean stop also stops the embedded Redis"
    node.start()
    assert camera_ids(node) == {"3171011001001"}
    add_camera(node, token, 2)
    orphan = embedded_redis_pids(data_dir)
    node.stop(signal.SIGKILL)
    assert embedded_redis_pids(data_dir) == orphan  # the private Redis outlives a kill -9 ...
    node.start()
    assert embedded_redis_pids(data_dir) == orphan  # ... and is adopted, never doubled
    assert camera_ids(node) == {"3171011001001", "3171011001002"}
    node.stop()
    assert wait_until(lambda: not embedded_redis_pids(data_dir))
    assert PASSWORD not in node.output() and token not in node.output()


def test_embedded_survives_a_crash_of_its_redis(start_node, tmp_path, node_env):
    data_dir = tmp_path / "d"
    node = start_node("--no-demo", "--data-dir", str(data_dir))
    add_camera(node, node_env["PANTAU_ADMIN_TOKEN"], 1)
    time.sleep(1.2)  # appendfsync everysec: what is older than a second is on disk
    node.stop(signal.SIGKILL)
    for pid in embedded_redis_pids(data_dir):
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not embedded_redis_pids(data_dir))
    node.start()
    assert camera_ids(node) == {"3171011001001"}


def test_site_redis_survives_node_and_redis_restarts(start_node, redis_server, node_env, tmp_path):
    node = start_node("--redis-url", redis_server.url, "--data-dir", str(tmp_path / "unused"))
    assert http("GET", f"{node.url}/api/cameras")[1]["total"] == 0  # no demo set on a site Redis by default
    add_camera(node, node_env["PANTAU_ADMIN_TOKEN"], 1)
    node.stop(signal.SIGKILL)
    node.start()
    assert camera_ids(node) == {"3171011001001"}
    add_camera(node, node_env["PANTAU_ADMIN_TOKEN"], 2)
    time.sleep(1.2)
    redis_server.restart(kill=True)  # crash of Redis itself; the append-only file brings it back
    assert wait_until(lambda: http("GET", f"{node.url}/healthz")[0] == 200)
    assert camera_ids(node) == {"3171011001001", "3171011001002"}
    assert not (tmp_path / "unused" / "redis").exists()


def test_demo_flag_on_site_redis_seeds_once(start_node, redis_server, node_env):
    node = start_node("--redis-url", redis_server.url, "--demo")
    assert http("GET", f"{node.url}/api/cameras")[1]["total"] == 176
    status, _ = http("DELETE", f"{node.url}/api/admin/cameras/rekap-317101", node_env["PANTAU_ADMIN_TOKEN"])
    assert status == 204
    node.stop()
    node.start()
    assert http("GET", f"{node.url}/api/cameras")[1]["total"] == 175


def run_cli(*args: str, env: dict[str, str], input_file: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PANTAU, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_import_and_list_next_to_a_running_node(start_node, tmp_path, node_env):
    data_dir = tmp_path / "d"
    node = start_node("--no-demo", "--data-dir", str(data_dir))
    csv_file = tmp_path / "cams.csv"
    csv_file.write_text("kind,region,tps,source\n" + "".join(f"tps,31.74.01.1001,{n},rtsp://u:{PASSWORD}@10.3.0.{n}/s\n" for n in range(1, 51)))
    # Directly on the data dir: reuses the node's private Redis, never a second server.
    result = run_cli("cameras", "import", str(csv_file), "--data-dir", str(data_dir), env=node_env)
    assert result.returncode == 0, result.stderr
    assert "50 created" in result.stdout
    assert len(embedded_redis_pids(data_dir)) == 1
    assert len(camera_ids(node)) == 50  # the node sees the CLI's writes at once
    # Through the node's API, with a bad line: refused whole, the line named.
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,region,tps,source\n" + "".join(f"tps,31.74.01.1002,{n},demo\n" for n in range(1, 30)) + "tps,31.74.01.1002,0,demo\n")
    env = {**node_env, "PANTAU_TOKEN": node_env["PANTAU_ADMIN_TOKEN"]}
    result = run_cli("cameras", "import", str(bad), "--node", node.url, env=env)
    assert result.returncode == 1 and "line 31: tps" in result.stderr
    assert len(camera_ids(node)) == 50
    result = run_cli("cameras", "list", "--node", node.url, "--kecamatan", "31.74.01", env=env)
    assert result.returncode == 0 and result.stdout.count("rtsp://u:***@") == 50
    result = run_cli("cameras", "list", "--data-dir", str(data_dir), "--json", env=node_env)
    assert len(result.stdout.splitlines()) == 50
    for output in (result.stdout, result.stderr, node.output()):
        assert PASSWORD not in output


def test_cli_on_a_data_dir_without_a_node_starts_and_stops_redis(tmp_path, node_env):
    data_dir = tmp_path / "d"
    csv_file = tmp_path / "cams.csv"
    csv_file.write_text("kind,region,source\nrecap,31.71.01,demo\n")
    result = run_cli("cameras", "import", str(csv_file), "--data-dir", str(data_dir), env=node_env)
    assert result.returncode == 0, result.stderr
    assert not embedded_redis_pids(data_dir)
    result = run_cli("cameras", "list", "--data-dir", str(data_dir), env=node_env)
    assert "rekap-317101" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["cameras", "import", "/nonexistent.csv"], "cannot read"),
        (["cameras", "list", "--redis-url", "redis://127.0.0.1:1/0"], "cannot open the registry"),
        (["serve", "--config", "/nonexistent.yaml"], "config file not found"),
        (["cameras", "list", "--node", "http://127.0.0.1:1"], "needs an admin token"),
    ],
)
def test_cli_errors_are_one_clear_line(args, message, tmp_path, node_env):
    result = run_cli(*args, "--data-dir", str(tmp_path / "d"), env={k: v for k, v in node_env.items() if k != "PANTAU_ADMIN_TOKEN"})
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
