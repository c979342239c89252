"""Celery mode: a real redis-server, real `drum-gen-worker` processes and a real `drum-gen-api` server.

The tests run in file order; the ones that break things come last (SIGKILL a worker, restart the API,
stop Redis, which loses its data: it runs without persistence).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from drum_api_helpers import (
    BAD_REQUESTS,
    STYLES,
    TOKEN,
    ApiServer,
    RedisServer,
    Worker,
    assert_422,
    assert_drum_midi,
    base_env,
    download,
    submit,
    wait_done,
    wait_for_workers,
    wait_status,
)
from drum_gen_api.api.app import create_app
from drum_gen_api.config import ServiceConfig
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow
QUEUE = "drum-gen-test"


@dataclass
class Cluster:
    redis: RedisServer
    api: ApiServer
    env: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, concurrency: int = 2) -> Worker:
        worker = Worker(self.env, self.logs / f"worker-{len(self.workers)}.log", concurrency)
        worker.start()
        self.workers.append(worker)
        return worker


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("celery-logs")
    env = base_env(REDIS_URL=redis_server.url, DRUM_GEN_API_QUEUE=QUEUE, DRUM_GEN_API_TOKEN=TOKEN)
    api = ApiServer(env, logs / "api.log")
    api.start()
    cluster = Cluster(redis_server, api, env, logs)
    cluster.start_worker()
    yield cluster
    api.stop()
    for worker in cluster.workers:
        worker.stop()


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=cluster.api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as c:
        yield c


def test_health_sees_broker_store_worker_and_model(http: httpx.Client) -> None:
    wait_for_workers(http, count=2)  # one worker, --concurrency 2: two generation processes report
    report = http.get("/health").json()
    assert report["status"] == "ok", report
    assert report["mode"] == "celery" and report["broker"]["queue"] == QUEUE
    assert report["workers"]["processes"] == 2 and report["model"]["status"] == "ok"


@pytest.mark.parametrize("style", STYLES)
def test_every_style_end_to_end(http: httpx.Client, style: str) -> None:
    task_id = submit(http, style=style, bars=2, seed=4)
    status = wait_done(http, task_id)
    assert status["status"] == "completed", status
    assert status["attempts"] == 1 and status["result"]["style"] == style
    assert_drum_midi(download(http, task_id), bars=2)


@pytest.mark.parametrize(("body", "field"), BAD_REQUESTS)
def test_bad_requests_are_422_with_the_field(http: httpx.Client, body: dict, field: str) -> None:
    assert_422(http.post("/api/v1/generate", json=body), field)


def test_unknown_ids_404_and_not_ready_409(http: httpx.Client) -> None:
    for task_id in ("3b241101-e2bb-4255-8caf-4136c566a962", "not-a-uuid"):
        assert http.get(f"/api/v1/status/{task_id}").status_code == 404
        assert http.get(f"/api/v1/patterns/{task_id}.mid").status_code == 404
    task_id = submit(http, style="metro", bars=16)
    response = http.get(f"/api/v1/patterns/{task_id}.mid")
    assert response.status_code == 409 and response.json()["detail"]["status"] in ("queued", "processing")
    assert wait_done(http, task_id)["status"] == "completed"


def test_token_required_except_health(cluster: Cluster) -> None:
    url = cluster.api.url
    assert httpx.post(f"{url}/api/v1/generate", json={"style": "dilla"}).status_code == 401
    assert httpx.get(f"{url}/api/v1/styles", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{url}/openapi.json").status_code == 401
    assert httpx.get(f"{url}/health").status_code == 200


def test_workers_that_cannot_load_the_model_make_generate_503(cluster: Cluster) -> None:
    queue = "drum-gen-broken-model"
    env = cluster.env | {"DRUM_GEN_API_QUEUE": queue, "DRUM_GEN_MODEL": "/nonexistent/checkpoint"}
    worker = Worker(env, cluster.logs / "broken-worker.log", concurrency=1)
    worker.start()
    config = ServiceConfig.from_env(env, token=None)
    try:
        with TestClient(create_app(config)) as client:
            names = wait_for_workers(client)
            assert names, "the broken worker never reported"
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["model"]["status"] == "error"
            assert "/nonexistent/checkpoint" in health.json()["model"]["error"]
            response = client.post("/api/v1/generate", json={"style": "dilla"})
            assert response.status_code == 503, response.text
            assert "DRUM_GEN_MODEL" in response.json()["detail"]["fix"]
    finally:
        worker.stop()


def test_50_concurrent_requests_all_complete_once(http: httpx.Client) -> None:
    bodies = [{"style": STYLES[i % 4], "bars": 1, "seed": i} for i in range(50)]
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda body: http.post("/api/v1/generate", json=body), bodies))
    assert [r.status_code for r in responses] == [202] * 50
    ids = [r.json()["task_id"] for r in responses]
    assert len(set(ids)) == 50
    statuses = [wait_done(http, task_id, timeout=120) for task_id in ids]
    assert [s["status"] for s in statuses] == ["completed"] * 50
    assert [s["attempts"] for s in statuses] == [1] * 50
    assert [s["request"]["seed"] for s in statuses] == list(range(50))
    for task_id in ids:
        assert_drum_midi(download(http, task_id), bars=1)


def test_sigkill_worker_mid_task_then_a_new_worker_completes_it(cluster: Cluster, http: httpx.Client) -> None:
    old = set(wait_for_workers(http))
    task_id = submit(http, style="questlove", bars=32, seed=8)
    wait_status(http, task_id, "processing")
    cluster.workers[0].kill()  # SIGKILL to the worker and its pool children: the message stays unacked
    cluster.start_worker()
    wait_for_workers(http, exclude=old)
    final = wait_done(http, task_id, timeout=90)  # redelivered after the visibility timeout
    assert final["status"] == "completed", final
    assert final["attempts"] == 2 and final["worker"] not in old
    assert_drum_midi(download(http, task_id), bars=32)


def test_restart_api_keeps_completed_results(cluster: Cluster, http: httpx.Client) -> None:
    task_id = submit(http, style="dilla", bars=2, seed=21)
    assert wait_done(http, task_id)["status"] == "completed"
    before = download(http, task_id)
    cluster.api.restart()
    assert download(http, task_id) == before
    assert http.get(f"/api/v1/status/{task_id}").json()["status"] == "completed"


def test_redis_down_means_degraded_health_and_fast_503_then_recovery(
    cluster: Cluster, http: httpx.Client
) -> None:
    cluster.redis.stop()
    try:
        for method, path, body in (
            ("GET", "/health", None),
            ("POST", "/api/v1/generate", {"style": "dilla", "bars": 1}),
            ("GET", "/api/v1/status/3b241101-e2bb-4255-8caf-4136c566a962", None),
        ):
            started = time.monotonic()
            response = http.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert elapsed < 2.0, (path, elapsed)
        report = http.get("/health").json()
        assert report["status"] == "degraded"
        assert report["result_store"]["status"] == "error" and report["broker"]["status"] == "error"
        assert "Redis" in http.post("/api/v1/generate", json={"style": "dilla"}).json()["detail"]["error"]
    finally:
        cluster.redis.start()
    wait_for_workers(http)  # the worker reconnects and announces itself again
    task_id = submit(http, style="dilla", bars=1)
    assert wait_done(http, task_id)["status"] == "completed"
