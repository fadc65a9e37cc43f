"""flask-smorest's Blueprint, parsing each distinct query string once.

A storefront asks with a handful of query strings (``?n=10``, ``?placement=category&
category=shoes``), millions of times. webargs validates one with its marshmallow
schema in about 25 µs, a sixth of a recommendation request's own work
(docs/serving-speed.md); the schema's answer for a query string never changes, so
it is kept (per schema, for the most recent query strings) and handed out read-only.
Invalid query strings are not kept: each time they raise the same 422.
"""

from __future__ import annotations

import functools
from types import MappingProxyType
from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser

#: distinct query strings remembered (per process, all schemas together)
QUERY_CACHE_SIZE = 4096


class Parser(FlaskParser):
    """webargs' Flask parser, remembering what each query string parsed to."""

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None,
              **options: Any) -> Any:  # fmt: skip
        cacheable = options.get("validate") is None and options.get("error_headers") is None
        if location != "query" or not cacheable:
            return super().parse(argmap, req, location=location, **options)
        query_string = (req or flask.request).query_string
        return self._parse_query(argmap, query_string, tuple(sorted(options.items())))

    @functools.lru_cache(maxsize=QUERY_CACHE_SIZE)  # noqa: B019 (one parser per process)
    def _parse_query(
        self, argmap: Any, query_string: bytes, options: tuple[tuple[str, Any], ...]
    ) -> MappingProxyType[str, Any]:
        del query_string  # the key: the request's own is what gets parsed
        return MappingProxyType(super().parse(argmap, location="query", **dict(options)))


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    """flask-smorest's Blueprint with the caching query parser."""

    ARGUMENTS_PARSER = Parser()
