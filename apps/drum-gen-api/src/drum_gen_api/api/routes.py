"""The HTTP routes. Blocking store and broker calls run in FastAPI's thread pool (plain ``def`` routes)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

from drum_gen.styles import list_styles
from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from drum_gen_api.api.service import Service, ServiceUnavailable
from drum_gen_api.embedded import QueueFull
from drum_gen_api.schemas import Accepted, ErrorBody, GenerateRequest, StyleInfo, TaskStatus
from drum_gen_api.store import Status, StoreUnavailable, TaskRecord, is_task_id, new_task_id

API = "/api/v1"
router = APIRouter()


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def status_url(task_id: str) -> str:
    return f"{API}/status/{task_id}"


def download_url(task_id: str) -> str:
    return f"{API}/patterns/{task_id}.mid"


def _unavailable(err: ServiceUnavailable) -> HTTPException:
    headers = {"Retry-After": str(err.retry_after_s)} if err.retry_after_s else None
    return HTTPException(503, detail=err.detail, headers=headers)


def _record(service: Service, task_id: str) -> TaskRecord:
    """The record of a well-formed, known id; 404 otherwise (checked before the store sees the id)."""
    task_id = task_id.lower()
    if not is_task_id(task_id):
        raise HTTPException(404, detail="no such task: ids are UUID4s returned by POST /api/v1/generate")
    try:
        record = service.store.get(task_id)
    except StoreUnavailable as err:
        raise HTTPException(503, detail={"error": str(err), "part": "result_store"}) from err
    if record is None:
        raise HTTPException(404, detail=f"no such task {task_id} (never submitted, or expired)")
    return record


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "bearer token missing or wrong (when DRUM_GEN_API_TOKEN is set)",
    },
    503: {
        "model": ErrorBody,
        "description": "result store, broker or model unavailable; the body says which",
    },
}


@router.post(
    f"{API}/generate",
    status_code=202,
    response_model=Accepted,
    responses={**ERRORS, 413: {"model": ErrorBody, "description": "request body too large"}},
    summary="Queue a pattern; poll the Location header's URL, then download the MIDI",
)
def generate(body: Annotated[GenerateRequest, Body()], service: ServiceDep, response: Response) -> Accepted:
    try:
        service.check_can_accept()
    except ServiceUnavailable as err:
        raise _unavailable(err) from err
    task_id = new_task_id()
    task = body.to_task()
    try:
        service.store.create(TaskRecord(task_id=task_id, request=task))
    except StoreUnavailable as err:
        raise HTTPException(503, detail={"error": str(err), "part": "result_store"}) from err
    try:
        service.runner.submit(task_id, task)
    except Exception as err:  # queue full, broker gone between the ping and the publish
        _forget(service, task_id)
        part = "queue" if isinstance(err, QueueFull) else "broker"
        raise HTTPException(
            503,
            detail={"error": f"could not queue the task: {err}", "part": part},
            headers={"Retry-After": "5"},
        ) from err
    response.headers["Location"] = status_url(task_id)
    return Accepted(
        task_id=task_id,
        status=Status.QUEUED,
        status_url=status_url(task_id),
        download_url=download_url(task_id),
    )


def _forget(service: Service, task_id: str) -> None:
    with contextlib.suppress(StoreUnavailable):  # else the record expires with its TTL
        service.store.delete(task_id)


@router.get(
    f"{API}/status/{{task_id}}",
    response_model=TaskStatus,
    responses={**ERRORS, 404: {"model": ErrorBody, "description": "unknown or expired task id"}},
    summary="Status, progress, timestamps and error of a task",
)
def task_status(task_id: str, service: ServiceDep) -> TaskStatus:
    record = _record(service, task_id)
    return TaskStatus(
        task_id=record.task_id,
        status=record.status,  # type: ignore[arg-type]
        progress=record.progress,
        created_at=_iso(record.created_at) or "",
        started_at=_iso(record.started_at),
        completed_at=_iso(record.completed_at),
        error=record.error,
        attempts=record.attempts,
        worker=record.worker,
        request=record.request,
        result=record.result,
        download_url=download_url(record.task_id) if record.status == Status.COMPLETED else None,
    )


@router.get(
    f"{API}/patterns/{{task_id}}.mid",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"audio/midi": {}}, "description": "the Standard MIDI File (GM drums, channel 10)"},
        404: {"model": ErrorBody, "description": "unknown or expired task id"},
        409: {"model": ErrorBody, "description": "the task is not completed (queued, processing or failed)"},
    },
    summary="Download the MIDI file of a completed task",
)
def download(task_id: str, service: ServiceDep) -> Response:
    record = _record(service, task_id)
    if record.status != Status.COMPLETED:
        detail: dict[str, Any] = {"status": record.status, "progress": record.progress}
        if record.status == Status.FAILED:
            detail["error"] = f"the task failed and has no MIDI: {record.error}"
        else:
            detail["error"] = f"not ready yet; poll {status_url(record.task_id)}"
        return JSONResponse({"detail": detail}, status_code=409)
    try:
        midi = service.store.get_midi(record.task_id)
    except StoreUnavailable as err:
        raise HTTPException(503, detail={"error": str(err), "part": "result_store"}) from err
    if midi is None:
        raise HTTPException(404, detail=f"the MIDI of task {record.task_id} has expired")
    style = (record.result or {}).get("style", "pattern")
    name = f"drum-gen-{''.join(c if c.isalnum() else '-' for c in style.lower())}-{record.task_id[:8]}.mid"
    return Response(
        midi, media_type="audio/midi", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(f"{API}/styles", response_model=list[StyleInfo], responses=ERRORS, summary="The producer styles")
def styles() -> list[StyleInfo]:
    return [
        StyleInfo(
            name=s.name,
            aliases=list(s.aliases),
            tempo_range=s.tempo_range,
            swing_percent=s.swing_percent,
            swing_resolution=s.swing_resolution,
            description=s.description,
        )
        for s in list_styles()
    ]


@router.get(
    "/health",
    responses={503: {"description": "degraded: the body names the failing part"}},
    summary="Broker, result store, workers and model; 200 when all are ok, else 503 (no token needed)",
)
def health(service: ServiceDep) -> JSONResponse:
    report = service.health()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
