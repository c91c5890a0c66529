"""`--log-format json`: one JSON object per line for log shippers (Loki, Fluent Bit, Vector...).

    {"time": "2024-11-27T06:00:01.123Z", "level": "INFO", "logger": "ingest.worker",
     "message": "camera 3171011001001: source stopped"}

plus `"exception"` (traceback and stack text) when the record has one. The same redaction as the
text format applies (pantau/access/redaction.py: the handler's `RedactingFilter` runs first); a record
that reaches this formatter without it is redacted here, so no path skips it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pantau.access.redaction import redact


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if hasattr(record, "redacted_message"):
            message, exception = record.redacted_message, record.redacted_exception
        else:
            message = redact(record.getMessage())
            parts = [self.formatException(record.exc_info)] if record.exc_info else []
            parts += [record.stack_info] if record.stack_info else []
            exception = redact("\n".join(parts)) if parts else None
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name, "message": message}
        if exception:
            line["exception"] = exception
        return json.dumps(line, ensure_ascii=False)
