"""The busiest request answered beside Flask: ``GET /v1/users/<user_id>/recommendations``.

A storefront asks for a shopper's recommendations on every page. Flask's generic
handling of a request (a request context, the URL map, the hooks, a Response object
and its headers) costs about as much as the recommender's own work: it held the
endpoint to 0.67-0.72 of a bare Flask app's rate (issue #13, docs/serving-speed.md).
This WSGI middleware answers that one request itself, where it can answer exactly as
the view would:

- a GET of ``/v1/users/<id>/recommendations`` whose id is ASCII and passes the id
  rules (:func:`recsvc.api.schemas.is_id`), in a process not in debug mode;
- whose query string the view has parsed and validated before (the blueprint's
  parser keeps each one it parsed: ``Parser.parsed``), so a query string's first
  request, and every invalid one, goes through Flask;
- answered by the view's own code (:func:`recsvc.api.recommendations.answer`), with
  the same body bytes (the app's JSON provider), headers and request id, counted in
  the same metrics and written to the same access log line (:mod:`.observability`).

Anything else goes to Flask, as does any request the recommender refuses or cannot
answer (an unknown placement, no model loaded...): Flask answers it again, with its
error, so the API's errors stay in one place. An unexpected exception is logged
before Flask answers it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .. import metrics
from ..errors import RecsvcError
from .encoding import OrjsonProvider
from .extension import RESOURCES_KEY
from .observability import log_access, request_id_of
from .recommendations import USER_QUERY, answer, blp, user_request
from .schemas import is_id, recommendations_body

log = logging.getLogger(__name__)
#: the view whose requests are answered here
ENDPOINT = "recommendations.user_recommendations"
_PREFIX, _SUFFIX = "/v1/users/", "/recommendations"

StartResponse = Callable[..., Any]


class HotPath:
    """A WSGI app answering the view's plain requests, and passing the rest to Flask's."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask = app.wsgi_app
        self.resources = app.extensions[RESOURCES_KEY]
        json = app.json
        if not isinstance(json, OrjsonProvider):
            raise TypeError("the hot path writes bodies with the app's OrjsonProvider")
        self.json = json
        rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == ENDPOINT]
        if [rule.rule for rule in rules] != [_PREFIX + "<user_id>" + _SUFFIX]:
            raise ValueError(f"{ENDPOINT} is not routed at {_PREFIX}<user_id>{_SUFFIX}")
        #: the metrics' and access log's name of the endpoint (its rule, as Flask's)
        self.rule = rules[0].rule
        self.parser = blp.ARGUMENTS_PARSER
        #: RECSVC_ACCESS_LOG=json: a line per request, as observability's hook writes
        self.log_access = self.resources.settings.access_log == "json"
        #: requests answered here, not by Flask (tests read it)
        self.answered = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if (path.endswith(_SUFFIX) and path.startswith(_PREFIX)
                and environ["REQUEST_METHOD"] == "GET" and not self.app.debug):  # fmt: skip
            body = self._answer(environ, path, start_response)
            if body is not None:
                return body
        return self.flask(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], path: str, start_response: StartResponse
    ) -> list[bytes] | None:
        """The response's body, once the response is started; None to leave it to Flask."""
        started = time.perf_counter()
        user_id = path[len(_PREFIX) : -len(_SUFFIX)]
        if "/" in user_id or not user_id.isascii() or not is_id(user_id):
            return None
        query = environ.get("QUERY_STRING", "").encode("latin-1")  # as werkzeug reads it
        args = self.parser.parsed(USER_QUERY, query)
        if args is None:
            return None
        process = self.resources.serving
        process.start()  # the first request of a process starts its background work
        try:
            result, experiment, variant = answer(process, **user_request(args, user_id))
        except RecsvcError:
            return None  # Flask says why
        except Exception:
            log.exception("the hot path failed on %s; Flask answers it", path)
            return None
        body = self.json.body(recommendations_body(result, experiment=experiment,
                                                   variant=variant))  # fmt: skip
        request_id = request_id_of(environ)
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Request-ID", request_id)])  # fmt: skip
        seconds = time.perf_counter() - started
        metrics.count_request(self.rule, result.placement, "200", seconds)
        if self.log_access:
            log_access(request_id, "GET", path, self.rule, result.placement, 200, seconds)
        self.answered += 1
        return [body]


def init_app(app: Flask) -> None:
    """Put the hot path in front of the app's own WSGI app (once every blueprint is
    registered)."""
    app.wsgi_app = HotPath(app)  # type: ignore[method-assign]
