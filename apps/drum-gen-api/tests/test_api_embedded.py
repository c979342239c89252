"""Embedded mode (no REDIS_URL): the app's own process pool, the directory store, real server processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from drum_api_helpers import (
    BAD_REQUESTS,
    STYLES,
    TEST_LIMITS,
    TOKEN,
    ApiServer,
    assert_422,
    assert_drum_midi,
    base_env,
    download,
    submit,
    wait_done,
    wait_status,
)
from drum_gen_api.api.app import create_app
from drum_gen_api.config import ServiceConfig
from fastapi.testclient import TestClient


def _config(data_dir: Path, **overrides: object) -> ServiceConfig:
    env = {k: v for k, v in TEST_LIMITS.items() if k.startswith("DRUM_GEN_API")}
    return ServiceConfig.from_env(env, data_dir=data_dir, concurrency=1, **overrides)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The embedded app in-process (its one pool process is real), no token."""
    with TestClient(create_app(_config(tmp_path_factory.mktemp("embedded")))) as test_client:
        yield test_client


def test_health_reports_pool_store_and_model(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "ok" and report["mode"] == "embedded"
    assert report["model"]["status"] == "ok" and set(STYLES) <= set(report["model"]["styles"])
    assert report["result_store"]["status"] == "ok" and report["broker"]["kind"] == "in-process pool"


def test_styles_and_openapi(client: TestClient) -> None:
    names = [s["name"] for s in client.get("/api/v1/styles").json()]
    assert names[:4] == list(STYLES)
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/generate",
        "/api/v1/status/{task_id}",
        "/api/v1/patterns/{task_id}.mid",
        "/health",
    } <= set(paths)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_end_to_end(client: TestClient, style: str) -> None:
    task_id = submit(client, style=style, bars=2, seed=11)
    status = wait_done(client, task_id)
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["attempts"] == 1 and status["error"] is None
    assert status["created_at"] <= status["started_at"] <= status["completed_at"]
    assert status["result"]["style"] == style and status["result"]["bars"] == 2
    assert status["download_url"] == f"/api/v1/patterns/{task_id}.mid"
    assert_drum_midi(download(client, task_id), bars=2)


def test_same_seed_same_midi(client: TestClient) -> None:
    first, second = (submit(client, style="quest", bars=1, seed=5) for _ in range(2))
    wait_done(client, first), wait_done(client, second)
    assert download(client, first) == download(client, second)


@pytest.mark.parametrize(("body", "field"), BAD_REQUESTS)
def test_bad_requests_are_422_with_the_field(client: TestClient, body: dict, field: str) -> None:
    assert_422(client.post("/api/v1/generate", json=body), field)


def test_unsupported_meter_says_why(client: TestClient) -> None:
    body = {"style": "dilla", "time_signature": {"numerator": 7, "denominator": 8}}
    response = client.post("/api/v1/generate", json=body)
    assert response.status_code == 422 and "4/4 only" in response.text


def test_body_limit_and_bad_json(client: TestClient) -> None:
    assert client.post("/api/v1/generate", content=b'{"style": "' + b"a" * 20_000 + b'"}').status_code == 413
    response = client.post(
        "/api/v1/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "task_id", ["3b241101-e2bb-4255-8caf-4136c566a962", "not-a-uuid", "..%2F..%2Fetc%2Fpasswd"]
)
def test_unknown_or_junk_ids_are_404(client: TestClient, task_id: str) -> None:
    assert client.get(f"/api/v1/status/{task_id}").status_code == 404
    assert client.get(f"/api/v1/patterns/{task_id}.mid").status_code == 404


def test_not_ready_is_409(client: TestClient) -> None:
    running, waiting = (submit(client, style="metro", bars=16, seed=s) for s in (1, 2))  # one pool process
    response = client.get(f"/api/v1/patterns/{waiting}.mid")
    assert response.status_code == 409, response.text
    assert response.json()["detail"]["status"] in ("queued", "processing")
    for task_id in (running, waiting):
        assert wait_done(client, task_id)["status"] == "completed"
    assert_drum_midi(download(client, waiting), bars=16)


def test_model_that_cannot_load_gives_health_and_503_with_fix(tmp_path: Path) -> None:
    config = _config(tmp_path, model=str(tmp_path / "no-such-checkpoint"))
    with TestClient(create_app(config)) as broken:
        health = broken.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        model = health.json()["model"]
        assert model["status"] == "error" and "no-such-checkpoint" in model["error"]
        assert "DRUM_GEN_MODEL" in model["fix"]
        response = broken.post("/api/v1/generate", json={"style": "dilla"})
        assert response.status_code == 503
        assert "DRUM_GEN_MODEL" in response.json()["detail"]["fix"]


def test_soft_time_limit_fails_the_task_with_the_reason(tmp_path: Path) -> None:
    config = _config(tmp_path, soft_time_limit_s=0.2, time_limit_s=5)  # a 32-bar pattern takes > 1 s
    with TestClient(create_app(config)) as limited:
        task_id = submit(limited, style="dilla", bars=32)
        status = wait_done(limited, task_id)
        assert status["status"] == "failed" and "soft time limit of 0.2 s" in status["error"], status
        response = limited.get(f"/api/v1/patterns/{task_id}.mid")
        assert response.status_code == 409 and response.json()["detail"]["status"] == "failed"
        assert limited.get("/health").json()["broker"]["pool_restarts"] == 0  # the process lived on


# ---------------------------------------------------------------------------------------------- real server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``drum-gen-api`` as users start it (uvicorn, embedded), two pool processes, token on."""
    data = tmp_path_factory.mktemp("embedded-server")
    env = base_env(DRUM_GEN_API_DATA_DIR=str(data), DRUM_GEN_API_CONCURRENCY="2", DRUM_GEN_API_TOKEN=TOKEN)
    api = ApiServer(env, data / "server.log")
    api.start()
    yield api
    api.stop()


@pytest.fixture
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


@pytest.mark.slow
def test_token_required_except_health(server: ApiServer, http: httpx.Client) -> None:
    task_id = submit(http, style="dilla", bars=1)
    for path in ("/api/v1/styles", f"/api/v1/status/{task_id}", f"/api/v1/patterns/{task_id}.mid", "/docs"):
        assert httpx.get(server.url + path).status_code == 401, path
        wrong = httpx.get(server.url + path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.post(server.url + "/api/v1/generate", json={"style": "dilla"}).status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200
    assert wait_done(http, task_id)["status"] == "completed"


@pytest.mark.slow
def test_50_concurrent_requests_all_complete_once(http: httpx.Client) -> None:
    bodies = [{"style": STYLES[i % 4], "bars": 1, "seed": i} for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda body: http.post("/api/v1/generate", json=body), bodies))
    assert [r.status_code for r in responses] == [202] * 50
    ids = [r.json()["task_id"] for r in responses]
    assert len(set(ids)) == 50
    statuses = [wait_done(http, task_id, timeout=120) for task_id in ids]
    assert [s["status"] for s in statuses] == ["completed"] * 50
    assert [s["attempts"] for s in statuses] == [1] * 50  # nothing ran twice
    assert [s["request"]["seed"] for s in statuses] == list(range(50))  # each id got its own request
    for task_id in ids:
        assert_drum_midi(download(http, task_id), bars=1)


@pytest.mark.slow
def test_killed_pool_process_mid_task_is_replaced_and_the_task_completes(http: httpx.Client) -> None:
    task_id = submit(http, style="questlove", bars=32, seed=3)
    status = wait_status(http, task_id, "processing")
    os.kill(int(status["worker"].rsplit(":", 1)[1]), signal.SIGKILL)  # the pool process running it
    final = wait_done(http, task_id, timeout=90)
    assert final["status"] == "completed", final
    assert final["attempts"] == 2
    assert_drum_midi(download(http, task_id), bars=32)
    assert http.get("/health").json()["broker"]["pool_restarts"] >= 1


@pytest.mark.slow
def test_restart_keeps_results_and_finishes_unfinished_tasks(server: ApiServer, http: httpx.Client) -> None:
    done = submit(http, style="timbo", bars=2, seed=9)
    assert wait_done(http, done)["status"] == "completed"
    before = download(http, done)
    unfinished = [submit(http, style="metro", bars=16, seed=s) for s in range(3)]
    server.stop()  # SIGTERM while tasks are running and queued
    stopped = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    server.start()  # a new process on the same data directory
    assert download(http, done) == before
    statuses = [wait_done(http, task_id, timeout=90) for task_id in unfinished]
    assert [s["status"] for s in statuses] == ["completed"] * 3, statuses
    assert any(s["completed_at"] > stopped for s in statuses)  # at least the queued one ran after the restart
    started = time.monotonic()
    assert http.get("/health").status_code == 200 and time.monotonic() - started < 2
