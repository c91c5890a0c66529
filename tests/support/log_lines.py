"""The log lines a test produced, as the node's log handler would write them (redacted by
pantau.access.redaction.RedactingFilter), for secret scans at fixture teardown (caplog.text there
holds only the teardown's records)."""

from __future__ import annotations

import pytest

from pantau.access.redaction import RedactingFilter


def redacted_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    redacting = RedactingFilter()
    lines = []
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        redacting.filter(record)
        lines.append(record.getMessage())
    return lines
