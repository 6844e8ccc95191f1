"""Structured logs of every Bilet process: one JSON object per line on stderr.

Log lines carry ids, positions and error types, never event data, metadata or personal data.
A request's ids (its correlation id, its W3C trace id) are bound once with `bind_log_context`
and land on every line logged while it runs, uvicorn's own lines included.
"""

import json
import logging
import logging.config
import time
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# uvicorn adds a coloured copy of some messages for its own text formatter.
_DROPPED_FIELDS: Final = frozenset({"color_message"})

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("bilet_log_context", default=_EMPTY)


def bind_log_context(**fields: str | None) -> None:
    """Makes `fields` (ids only, never personal data) the context of every line logged from here
    on in this task and the tasks and threads it starts, in place of what was bound before; None
    values are left out. A request binds its ids once, first (`bilet.http.telemetry`)."""
    _context.set(MappingProxyType({key: value for key, value in fields.items() if value}))


class JsonFormatter(logging.Formatter):
    """Time, level, logger, message, the bound context and the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        for key, value in vars(record).items():
            if (
                key not in _STANDARD_FIELDS
                and key not in _DROPPED_FIELDS
                and not key.startswith("_")
            ):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(level: int | str = logging.INFO) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process, and uvicorn's `log_config`: JSON on
    stderr from the root logger, which uvicorn's loggers propagate to. uvicorn's access logger is
    silenced (its line holds the client's address and the query string); the service frame
    writes its own access line (`bilet.http.access`)."""
    return {
        "version": 1,
        # Loggers made at import time (module-level `_log`) must keep logging.
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            # aiokafka's info lines (connections, metadata) say nothing our own lines do not.
            "aiokafka": {"level": "WARNING"},
            # httpx logs every request it makes with its whole URL, query string included.
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(level: int = logging.INFO) -> None:
    logging.config.dictConfig(logging_config(level))
