"""flask-smorest's Blueprint, parsing each distinct query string once, and running the
busiest views in one call.

A storefront asks with a handful of query strings (``?n=10``, ``?placement=category&
category=shoes``), millions of times. webargs validates one with its marshmallow
schema in about 25 µs, a sixth of a recommendation request's own work
(docs/serving-speed.md); the schema's answer for a query string never changes, so
it is kept (per schema, for the most recent query strings) and handed out read-only.
Invalid query strings are not kept: each time they raise the same 422. For the views
:meth:`Blueprint.direct` runs, parameters their schema does not read (a cache-busting
``_=<time>``) do not count: webargs ignores them in a query, so the parse is the same.

:meth:`Blueprint.direct` runs a view that reads a query string and builds its own
response without the three wrappers flask-smorest and webargs put around it
(each a call through ``current_app``), which document it all the same.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, TypeVar

import flask
import flask_smorest
from flask_smorest import abort
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

View = TypeVar("View", bound=Callable[..., Any])

#: distinct query strings remembered (per process, all schemas together)
QUERY_CACHE_SIZE = 4096
#: a query string's arguments, read-only (each request that sends it gets the same)
Parsed = MappingProxyType[str, Any]
#: what a parse is kept under: (schema, query string, the parse's options)
_Key = tuple[Any, bytes, tuple[tuple[str, Any], ...]]
#: a query parameter's name that reads as it is written (no escapes to decode)
_PLAIN_NAME = re.compile(rb"[A-Za-z0-9_.\-]*")


class Parser(FlaskParser):
    """webargs' Flask parser, remembering what each query string parsed to; a streamed
    body over the size limit is 413, and JSON nested too deeply to parse is 400
    (Python's parser would recurse out)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (schema, query string, options): what it parsed to; the oldest forgotten first
        self._parsed: dict[_Key, Parsed] = {}

    def _raw_load_json(self, req: flask.Request) -> Any:
        # A streamed (chunked) body is cut at the size limit without an error by the
        # first read; parsed as it is, it would be "invalid JSON" instead of too large.
        limit = req.max_content_length or 0
        streamed = req.content_length is None and req.is_json
        if streamed and limit and len(req.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, message="invalid JSON body: nested too deeply",
                  errors={"json": ["nested too deeply"]})  # fmt: skip

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None,
              **options: Any) -> Any:  # fmt: skip
        cacheable = options.get("validate") is None and options.get("error_headers") is None
        if location != "query" or not cacheable:
            return super().parse(argmap, req, location=location, **options)
        query_string = (req or flask.request).query_string
        if options:
            key: _Key = (argmap, query_string, tuple(sorted(options.items())))
            found = self._parsed.get(key)
        else:  # Blueprint.direct's views: parameters the schema lacks are ignored
            key, found = self._found(argmap, query_string)
        if found is None:  # an invalid query string raises its 422 here, and is not kept
            found = MappingProxyType(super().parse(argmap, req, location="query", **options))
            if len(self._parsed) >= QUERY_CACHE_SIZE:
                # (another thread may change it first, under threaded workers)
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del self._parsed[next(iter(self._parsed))]
            self._parsed[key] = found
        return found

    def parsed(self, argmap: Any, query_string: bytes) -> Parsed | None:
        """What ``query_string`` parsed to under ``argmap`` (without options) when a
        request parsed it, or one that differs only by parameters the schema ignores,
        before; None otherwise. Needs no request."""
        return self._found(argmap, query_string)[1]

    def _found(self, argmap: Any, query_string: bytes) -> tuple[_Key, Parsed | None]:
        """The key an option-less parse of ``query_string`` is kept under (the query
        string as sent when kept so, else its part ``argmap`` reads), and what it parsed
        to (None: not kept)."""
        key: _Key = (argmap, query_string, ())
        found = self._parsed.get(key)
        if found is None and query_string:
            key = (argmap, self._read_part(argmap, query_string), ())
            found = self._parsed.get(key)
        return key, found

    def _read_part(self, argmap: Any, query_string: bytes) -> bytes:
        """``query_string`` without the parameters ``argmap`` does not read, where that
        is plain from their raw name (a cache-busting ``_=1732...``, a tracking
        ``utm_source=``): the schema leaves them out (webargs' EXCLUDE for queries), so
        every such variant parses alike and is kept once. A name with escapes stays."""
        fields = getattr(argmap, "fields", None)
        if fields is None:  # a dict of fields, not a schema: kept as it is
            return query_string
        names = {(field.data_key or name).encode() for name, field in fields.items()}

        def read(part: bytes) -> bool:
            name = part.partition(b"=")[0]
            return name in names or not _PLAIN_NAME.fullmatch(name)

        return b"&".join(part for part in query_string.split(b"&") if read(part))


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    """flask-smorest's Blueprint with the caching query parser."""

    ARGUMENTS_PARSER = Parser()

    def direct(self, documented: View) -> View:
        """The view under ``@blp.arguments(Schema(), location="query")`` and
        ``@blp.response(...)``, called directly: its query arguments parsed (once per
        query string, as above) and passed first, and the :class:`flask.Response` it
        returns sent as it is. Those decorators then only document it (OpenAPI); what
        they did at run time (a 422 for invalid arguments) is done here the same way.
        Put it right under ``@blp.route``; the view must build its own Response.
        """
        apidoc = getattr(documented, "_apidoc", {})
        parameters = apidoc.get("arguments", {}).get("parameters", [])
        if [p["in"] for p in parameters] != ["query"] or "response" not in apidoc:
            raise TypeError(f"{documented.__name__}: direct() needs one query-string"
                            " @arguments and a @response under it")  # fmt: skip
        view = inspect.unwrap(documented)
        schema, parse = parameters[0]["schema"], self.ARGUMENTS_PARSER.parse

        @functools.wraps(documented)
        def called(**view_args: Any) -> flask.Response:
            response = view(parse(schema, location="query"), **view_args)
            if not isinstance(response, flask.Response):
                raise TypeError(f"{view.__name__} must return a flask.Response")
            return response

        return called  # type: ignore[return-value]


def json_body(view: View) -> View:
    """Refuse a body that is not sent as JSON (415), before it is parsed: a view that
    reads a JSON body would otherwise take any other body for none at all."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not flask.request.is_json:
            abort(
                415,
                message="send the body as JSON, with Content-Type: application/json",
                errors={"Content-Type": [f"{flask.request.mimetype or 'none'} is not JSON"]},
            )
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]
