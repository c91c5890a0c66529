"""Decoding a JSON request body from an outside client, refusing what Python's `json` takes
but the rest of the program cannot hold.

`json.loads` alone turns hostile bodies into 500s: deep nesting raises RecursionError, a
number of more than 4,300 digits a ValueError (Python's int-string limit), an unknown
charset a LookupError, and a `\\ud800` escape yields a lone surrogate that no UTF-8 encoder
(Redis, the log, a response header) accepts later. Each of these is a 4xx here instead.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # the deepest body Pantau reads is a camera in a list: 3 levels


class JsonBodyInvalid(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _refuse_constant(name: str) -> Any:
    raise JsonBodyInvalid(400, f"the body is not valid JSON ({name} is not a JSON number)")


def decode_json(raw: bytes, charset: str | None = None) -> Any:
    """The value of a JSON body, or JsonBodyInvalid (415 for a charset, else 400)."""
    try:
        text = raw.decode(charset or "utf-8")
    except LookupError:  # an unknown charset, or a codec that is not bytes -> text (base64, rot13)
        raise JsonBodyInvalid(415, "unknown charset in Content-Type; send JSON as UTF-8") from None
    except ValueError:  # UnicodeDecodeError and the other codec errors
        raise JsonBodyInvalid(400, "the body is not text in its charset (JSON is UTF-8)") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except JsonBodyInvalid:
        raise
    except RecursionError:
        raise JsonBodyInvalid(400, f"the body nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise JsonBodyInvalid(400, f"the body is not valid JSON ({exc})") from None
    except ValueError:  # the int-string limit: a number thousands of digits long
        raise JsonBodyInvalid(400, "the body is not valid JSON (a number is too long)") from None
    _check_values(value)
    return value


def _check_values(value: Any) -> None:
    """Depth and text of every value, without recursion (a body just under Python's limit
    would otherwise fail later, in whatever walks it next)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (list, dict)):
            if depth > MAX_DEPTH:
                raise JsonBodyInvalid(400, f"the body nests deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _check_text(text: str) -> None:
    # json.loads joins escaped surrogate pairs, so any surrogate left is a lone one.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonBodyInvalid(400, "the body has a lone UTF-16 surrogate (\\ud800-\\udfff) in a text") from None
