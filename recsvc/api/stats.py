"""What recommendations earn: impressions and what they led to (admin key)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ..store.stats import recommendation_stats
from .auth import require_key
from .blueprint import Blueprint
from .deadline import within_timeout
from .extension import shop
from .schemas import StatsQuerySchema, StatsSchema

blp = Blueprint("stats", __name__, url_prefix="/v1/stats",
                description="What recommendations earn (admin key).")  # fmt: skip

#: the default range: this many days before the end
DEFAULT_DAYS = 30


@blp.route("/recommendations")
@require_key("admin")
@blp.arguments(StatsQuerySchema(), location="query")
@blp.response(200, StatsSchema())
@blp.doc(security=[{"bearer": []}])
def recommendations(args: dict[str, Any]) -> dict[str, Any]:
    """Impressions, views, add-to-carts, purchases and revenue per placement, model
    version and experiment variant (and day, with `by_day`), with each rate per
    impression and its 95% Wilson interval. The range is whole hours (UTC): `start`
    rounded down, `end` up, as the answer's `start` and `end` say.

    An event counts for a list when it carries the list's `recommendation_id`, or, for
    an add-to-cart or purchase without one, when the same shopper opened the same item
    from a list within RECSVC_ATTRIBUTION_HOURS before it.
    """
    end = args.get("end", int(time.time()) + 1)  # now included
    start = args.get("start", end - DEFAULT_DAYS * 86_400)
    engine = shop().engine
    found = within_timeout(
        lambda: recommendation_stats(
            engine, start=start, end=end, by_day=args["by_day"], experiment=args.get("experiment")
        )
    )
    groups = [{**g, "day": iso(g["day"])[:10]} if "day" in g else g for g in found.groups]
    return {"start": iso(found.start), "end": iso(found.end), "groups": groups,
            "unattributed": found.unattributed}  # fmt: skip


def iso(epoch: int) -> str:
    """Epoch seconds as ISO 8601 UTC text."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")
