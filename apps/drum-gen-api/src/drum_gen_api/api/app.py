"""``create_app(config)``: the FastAPI application of either mode, with its middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from drum_gen_api.api.middleware import BearerTokenMiddleware, BodySizeLimitMiddleware
from drum_gen_api.api.routes import router
from drum_gen_api.api.service import Service
from drum_gen_api.config import ServiceConfig

DESCRIPTION = """
Ask for bars of drums in a producer style, poll, download a General MIDI file.

1. `POST /api/v1/generate` → **202** with `task_id` and a `Location` header
2. `GET /api/v1/status/{task_id}` until `status` is `completed` (or `failed`)
3. `GET /api/v1/patterns/{task_id}.mid` → the MIDI file

With `DRUM_GEN_API_TOKEN` set, every route but `/health` needs `Authorization: Bearer <token>`.
"""


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """The app for ``config`` (default: read from the environment); the service starts with the app."""
    config = config or ServiceConfig.from_env()
    service = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)  # embedded: waits for the pool to load the model
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(title="drum-gen API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    app.include_router(router)
    # Added last = outermost: a request without the token is refused before its body is read.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(BearerTokenMiddleware, token=config.token)
    return app
