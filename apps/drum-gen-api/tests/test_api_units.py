"""Quick checks of the pieces: config, request model, task ids, both result stores (real Redis)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from drum_api_helpers import RedisServer
from drum_gen.defaults import GENERATION, MAX_BARS, TEMPO_RANGE
from drum_gen_api.config import ConfigError, ServiceConfig
from drum_gen_api.schemas import GenerateRequest
from drum_gen_api.store import FileStore, RedisStore, Status, TaskRecord, is_task_id, new_task_id
from pydantic import ValidationError


def test_config_reads_every_variable_and_names_bad_ones(tmp_path: Path) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DRUM_GEN_MODEL": "runs/x",
        "DRUM_GEN_API_TOKEN": "s3cr3t-token",
        "DRUM_GEN_API_RESULT_TTL": "60",
        "DRUM_GEN_API_CONCURRENCY": "3",
        "DRUM_GEN_API_QUEUE": "drums.v2",
        "DRUM_GEN_API_PORT": "9000",
        "DRUM_GEN_API_DATA_DIR": str(tmp_path),
    }
    config = ServiceConfig.from_env(env)
    assert config.mode == "celery" and config.result_ttl_s == 60 and config.concurrency == 3
    assert config.queue == "drums.v2" and config.port == 9000 and config.data_dir == tmp_path
    assert "s3cr3t" not in repr(config)  # the token never reaches a log line
    assert ServiceConfig.from_env({}).mode == "embedded"
    assert ServiceConfig.from_env(config.to_env()) == config
    with pytest.raises(ConfigError, match="DRUM_GEN_API_RESULT_TTL"):
        ServiceConfig.from_env({"DRUM_GEN_API_RESULT_TTL": "soon"})
    with pytest.raises(ConfigError, match="DRUM_GEN_API_SOFT_TIME_LIMIT"):
        ServiceConfig.from_env({"DRUM_GEN_API_SOFT_TIME_LIMIT": "200", "DRUM_GEN_API_TIME_LIMIT": "100"})
    with pytest.raises(ConfigError, match="DRUM_GEN_API_VISIBILITY_TIMEOUT"):
        ServiceConfig.from_env({"DRUM_GEN_API_VISIBILITY_TIMEOUT": "10"})


def test_request_defaults_and_limits_are_drum_gens() -> None:
    request = GenerateRequest(style="dilla")
    assert request.style == "J Dilla"  # aliases resolve to the registry name
    assert (request.bars, request.temperature, request.top_p) == (
        GENERATION.bars,
        GENERATION.temperature,
        GENERATION.top_p,
    )
    assert GenerateRequest(producer_style="metro").style == "Metro Boomin"  # the original API's field name
    schema = GenerateRequest.model_json_schema()["properties"]
    assert schema["bars"]["maximum"] == MAX_BARS
    assert schema["tempo"]["anyOf"][0]["minimum"] == TEMPO_RANGE[0]
    with pytest.raises(ValidationError, match="4/4 only"):
        GenerateRequest(style="dilla", time_signature={"numerator": 6, "denominator": 8})
    task = GenerateRequest(style="dilla").to_task()
    assert isinstance(task["seed"], int)  # drawn once, stored, reported: the pattern is reproducible


def test_task_ids_are_uuid4_only() -> None:
    assert is_task_id(new_task_id())
    for junk in ("", "../../etc/passwd", "0" * 36, new_task_id().upper(), new_task_id() + "x", "*"):
        assert not is_task_id(junk), junk


def _exercise_store(store: FileStore | RedisStore) -> None:
    task_id = new_task_id()
    assert store.get(task_id) is None and not store.update(task_id, progress=5)
    store.create(TaskRecord(task_id=task_id, request={"style": "J Dilla"}))
    started = store.start(task_id, "here:1")
    assert started is not None and started.attempts == 1 and started.status == Status.PROCESSING
    assert store.complete(task_id, b"MThd-bytes", {"notes": 3})
    record = store.get(task_id)
    assert record is not None and record.status == Status.COMPLETED and record.result == {"notes": 3}
    assert store.get_midi(task_id) == b"MThd-bytes"
    time.sleep(store.ttl_s + 1.1)
    assert store.get(task_id) is None and store.get_midi(task_id) is None


def test_file_store_round_trip_and_ttl(tmp_path: Path) -> None:
    store = FileStore(tmp_path, ttl_s=1)
    _exercise_store(store)
    assert store.sweep() == 1 and not list((tmp_path / "tasks").glob("*.json"))


def test_redis_store_round_trip_and_ttl(redis_server: RedisServer) -> None:
    _exercise_store(RedisStore(redis_server.url, ttl_s=1))


def test_redis_store_fails_fast_when_redis_is_down() -> None:
    from drum_api_helpers import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", ttl_s=10, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(Exception, match="unavailable"):
        store.ping()
    assert time.monotonic() - started < 1.0
