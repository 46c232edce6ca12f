"""Log output for `cello serve`: one line per record, as text or as JSON."""

from __future__ import annotations

import json
import logging
import sys
import time

LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message (and the exception, and
    the trace_id and span_id of a traced call)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key in ("trace_id", "span_id"):  # the access log's, or TraceContextFilter's
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, access_log: bool = False) -> None:
    """Send `cello` logs to stderr in `log_format`; INFO and up, DEBUG never.

    Args:
        log_format: "text" or "json".
        access_log: also let the per-call access lines (INFO on `cello.access`) through.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("cello").setLevel(logging.INFO)
    if not access_log:
        logging.getLogger("cello.access").setLevel(logging.WARNING)
