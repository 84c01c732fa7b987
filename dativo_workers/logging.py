"""structlog setup: human-readable by default, JSON with `--log-format json`.

Every secret value resolved in this process is masked in every log event (structlog's and
the stdlib's, tracebacks included) before it is rendered: see dativo_workers/secrets/redact.py.
"""

from __future__ import annotations

import logging
import sys

# structlog and the redaction are imported by configure(): `dativo --help` needs neither.

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("console", "json")
# Events whose whole content the command that runs the job prints itself in its summary:
# logged as well, they would show the same error two or three times.
OUTCOME_EVENTS = frozenset({"partition failed", "run failed", "run refused"})
QUIET_OUTCOMES_ENV = "DATIVO_LOG_QUIET_OUTCOMES"


def _drop_outcomes(_logger: object, _name: str, event: dict[str, object]) -> dict[str, object]:
    if event.get("event") in OUTCOME_EVENTS:
        import structlog

        raise structlog.DropEvent
    return event


def configure(level: str = "warning", fmt: str = "console", quiet_outcomes: bool = False) -> None:
    import structlog

    from dativo_workers.secrets.redact import RedactingFilter, redact_event

    numeric = getattr(logging, level.upper(), logging.WARNING)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:  # on handlers: records propagated from any logger pass here
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *([_drop_outcomes] if quiet_outcomes else []),
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,  # after the traceback became text, before anything is rendered
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # sys.stderr looked up per logger, not bound once: it may be swapped (tests, embedding)
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


def configure_from_env() -> None:
    """For child processes: same settings as the parent CLI (it exports them)."""
    import os

    configure(
        os.environ.get("DATIVO_LOG_LEVEL", "warning"),
        os.environ.get("DATIVO_LOG_FORMAT", "console"),
        quiet_outcomes=os.environ.get(QUIET_OUTCOMES_ENV) == "1",
    )
