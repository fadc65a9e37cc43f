"""JSON out of the API through orjson: every response body, the same JSON as Flask's.

Flask's own provider (the json module) spends about 43 µs on a 10-item
recommendations body, a tenth of a request's work in a worker; orjson writes the
same JSON in about 3 µs (docs/serving-speed.md). Keys keep their order (the schemas'),
and what orjson would write otherwise is handed to Flask's own conversions (dates as
HTTP dates, decimals, dataclasses, UUIDs), so a body reads as before. Differences: text
beyond ASCII is written as UTF-8 rather than as \\u escapes (both are JSON), and a
float that is not a number is null rather than the invalid ``NaN``. What orjson refuses
(a lone surrogate, an integer beyond 64 bits) is written by the json module, as before.
Reading JSON stays Flask's (the json module), whose rules the request schemas were
written against.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

#: what orjson does itself; dates, dataclasses and subclasses of str, int, dict and list
#: go through Flask's conversions
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)  # fmt: skip


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing with orjson."""

    sort_keys = False  # the fields in the schemas' order

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``obj`` as JSON text (``indent`` honoured, as two spaces)."""
        return self._encode(obj, indent=bool(kwargs.get("indent"))).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response of the arguments, as :func:`flask.jsonify` makes it (indented
        in debug mode)."""
        body = self.body(self._prepare_response_obj(args, kwargs))
        # the app's response class (flask.Response unless changed), typed as werkzeug's
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type,return-value]

    def body(self, obj: Any) -> bytes:
        """A JSON response's body, as :meth:`response` writes it (recsvc.api.hotpath
        sends it without a Response object)."""
        pretty = self.compact is False or (self.compact is None and self._app.debug)
        return self._encode(obj, indent=pretty) + b"\n"

    def _encode(self, obj: Any, *, indent: bool) -> bytes:
        option = _OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
        try:
            return orjson.dumps(obj, default=self.default, option=option)
        except orjson.JSONEncodeError:
            # what orjson refuses and the json module writes: text with a lone surrogate
            # (a request may send one, escaped, and an error message may quote it back),
            # integers beyond 64 bits
            return super().dumps(obj, indent=2 if indent else None).encode()
