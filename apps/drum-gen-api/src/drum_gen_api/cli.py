"""``drum-gen-api`` (the HTTP server) and ``drum-gen-worker`` (a Celery worker for the same config)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from drum_gen_api.config import ConfigError, ServiceConfig

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _config() -> ServiceConfig:
    try:
        return ServiceConfig.from_env()
    except ConfigError as err:
        print(f"drum-gen-api: configuration error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def serve_main(argv: Sequence[str] | None = None) -> int:
    config = _config()
    parser = argparse.ArgumentParser(
        prog="drum-gen-api",
        description=(
            "Serve the drum-gen generation API. Without REDIS_URL it runs embedded: tasks run in a pool of "
            "processes inside this server, results are kept in DRUM_GEN_API_DATA_DIR. With REDIS_URL it "
            "queues tasks for `drum-gen-worker` processes and keeps results in Redis."
        ),
        epilog="configuration: environment variables, see apps/drum-gen-api/README.md",
    )
    parser.add_argument(
        "--host", default=config.host, help="bind address (default %(default)s, DRUM_GEN_API_HOST)"
    )
    parser.add_argument(
        "--port", type=int, default=config.port, help="port (default %(default)s, DRUM_GEN_API_PORT)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)

    import uvicorn

    from drum_gen_api.api.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    config = ServiceConfig.from_env(host=args.host, port=args.port)
    logging.getLogger("drum_gen_api").info(
        "starting in %s mode on http://%s:%d", config.mode, config.host, config.port
    )
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=10,
    )
    return 0


def worker_main(argv: Sequence[str] | None = None) -> int:
    config = _config()
    parser = argparse.ArgumentParser(
        prog="drum-gen-worker",
        description=(
            f"Run a Celery worker that consumes the drum-gen queue (DRUM_GEN_API_QUEUE, now {config.queue!r}) "
            "of the Redis at REDIS_URL. Start more, on this or other machines, to generate more in parallel."
        ),
        epilog="any further arguments are passed to `celery worker` as they are",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=config.concurrency,
        help="generation processes (default %(default)s, DRUM_GEN_API_CONCURRENCY)",
    )
    parser.add_argument(
        "-P",
        "--pool",
        default="prefork",
        choices=["prefork", "solo"],
        help="prefork (default): a process per slot, so generations run in parallel (decoding is "
        "Python-bound: threads would share one core) and the hard time limit can end a stuck one; solo: "
        "one task at a time inside the worker process, no hard time limit (debugging)",
    )
    parser.add_argument("-n", "--hostname", default=None, help="worker name (default celery@<host>)")
    parser.add_argument("-l", "--loglevel", default="info")
    args, rest = parser.parse_known_args(argv)
    if not config.redis_url:
        print(
            "drum-gen-worker: REDIS_URL is not set. A worker serves an API started with the same REDIS_URL, "
            "e.g. REDIS_URL=redis://127.0.0.1:6379/0; without it `drum-gen-api` runs embedded and needs "
            "no worker.",
            file=sys.stderr,
        )
        return 2
    from drum_gen_api.celery_app import app

    celery_argv = [
        "worker",
        "--queues",
        config.queue,
        "--prefetch-multiplier",
        "1",
        "--concurrency",
        str(args.concurrency),
        "--pool",
        args.pool,
        "--loglevel",
        args.loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if args.hostname:
        celery_argv += ["--hostname", args.hostname]
    app.worker_main([*celery_argv, *rest])
    return 0


if __name__ == "__main__":
    sys.exit(serve_main())
