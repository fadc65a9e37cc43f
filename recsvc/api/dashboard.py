"""The dashboard: what recommendations earn, experiments, model versions, and a preview
of what a shopper would be shown, on one server-rendered page (admin key).

Nothing is loaded from outside the service: the styles are in the page and the charts
are SVG drawn here. A browser logs in with a form that sets a cookie (an HMAC of the
admin key, HttpOnly, SameSite=Strict); an API client may send the key in the
``Authorization`` header instead. The charts' figures are also in the page as JSON
(``#chart-data``), the same as ``GET /v1/stats/recommendations?by_day=true`` gives.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from ..artifact import iter_manifests
from ..errors import RequestError
from ..serving.filters import Filters
from ..store.comparison import experiment_report
from ..store.experiments import ExperimentStore
from ..store.stats import recommendation_stats
from .auth import presented_key
from .extension import resources, serving, settings, shop

blp = Blueprint("dashboard", __name__, template_folder="templates")
COOKIE = "recsvc_dashboard"
DAYS = 30
RATES = ("views", "add_to_carts", "purchases")


def _token(key: str) -> str:
    return hmac.new(key.encode(), b"recsvc dashboard", hashlib.sha256).hexdigest()


def _allowed() -> bool:
    key = settings().admin_key
    if not key:
        return False
    given = presented_key()
    if given is not None and hmac.compare_digest(given.encode(), key.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(cookie.encode(), _token(key).encode())


@blp.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    """The dashboard, or the login form."""
    if not settings().admin_key:
        return Response(render_template("login.html", message="The dashboard is off: set"
                                        " RECSVC_ADMIN_KEY."), status=403)  # fmt: skip
    if not _allowed():
        return render_template("login.html", message=None)
    return render_template("dashboard.html", **_page())


@blp.post("/dashboard/login")
def login() -> ResponseReturnValue:
    """Check the admin key and set the dashboard's cookie."""
    key = settings().admin_key
    given = request.form.get("key", "")
    if not key or not hmac.compare_digest(given.encode(), key.encode()):
        return Response(render_template("login.html", message="Wrong key."), status=403)
    response = redirect("/dashboard", code=303)
    response.set_cookie(COOKIE, _token(key), httponly=True, samesite="Strict",
                        secure=request.is_secure, max_age=8 * 3600)  # fmt: skip
    return response


@blp.post("/dashboard/logout")
def logout() -> ResponseReturnValue:
    """Forget the dashboard's cookie."""
    response = redirect("/dashboard", code=303)
    response.delete_cookie(COOKIE)
    return response


def _page() -> dict[str, Any]:
    engine = shop().engine
    end = int(time.time()) + 1
    stats = recommendation_stats(engine, start=end - DAYS * 86_400, end=end, by_day=True)
    series = _series(stats.groups)
    experiments = []
    store = ExperimentStore(engine)
    for experiment in store.all()[:5]:
        report = experiment_report(engine, experiment, metric="purchases")
        experiments.append(report)
    holder = serving().holder
    current = holder.store.current()
    versions: list[dict[str, Any]] = []
    latest = holder.store.versions()[-10:][::-1]  # the ten newest, read alone
    for version, manifest in iter_manifests(holder.store, latest):
        if isinstance(manifest, Exception):
            versions.append({"version": version, "error": str(manifest)})
            continue
        metrics = manifest.get("metrics", {})
        versions.append({
            "version": version, "current": version == current,
            "created": manifest.get("created"),
            "model": (manifest.get("selection") or {}).get("chosen")
            or manifest.get("parameters", {}).get("model"),
            "ndcg": metrics.get("model", {}).get("ndcg@10"),
            "popularity": metrics.get("popularity", {}).get("ndcg@10"),
            "events": manifest.get("counts", {}).get("events"),
        })  # fmt: skip
    return {
        "days": DAYS, "series": series, "charts": {p: _svg(s) for p, s in series.items()},
        "totals": _totals(stats.groups), "unattributed": stats.unattributed,
        "experiments": experiments, "versions": versions, "preview": _preview(),
        "placements": list(resources().placements), "args": request.args,
    }  # fmt: skip


def _series(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per placement and day (all versions and variants together): impressions and
    each outcome per impression."""
    days: dict[str, dict[int, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(float))
    )
    for g in groups:
        day = days[g["placement"]][g["day"]]
        for name in ("impressions", *RATES):
            day[name] += g[name]
    series: dict[str, dict[str, Any]] = {}
    for placement, by_day in sorted(days.items()):
        ordered = sorted(by_day)
        series[placement] = {
            "days": [time.strftime("%Y-%m-%d", time.gmtime(d)) for d in ordered],
            "impressions": [int(by_day[d]["impressions"]) for d in ordered],
            **{name: [int(by_day[d][name]) for d in ordered] for name in RATES},
            **{f"{name}_per_impression": [
                by_day[d][name] / by_day[d]["impressions"] if by_day[d]["impressions"] else 0.0
                for d in ordered] for name in RATES},
        }  # fmt: skip
    return series


def _totals(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per placement, model version and variant over the whole range."""
    rows: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for g in groups:
        variant = f"{g['experiment']}/{g['variant']}" if g["variant"] else ""
        row = rows[(g["placement"], g["model_version"], variant)]
        for name in ("impressions", *RATES, "revenue"):
            row[name] += g[name]
    return [{"placement": p, "model_version": v, "variant": x, **row}
            for (p, v, x), row in sorted(rows.items())]  # fmt: skip


COLOURS = {"views": "#2563eb", "add_to_carts": "#d97706", "purchases": "#059669"}


def _svg(series: dict[str, Any], width: int = 420, height: int = 140) -> str:
    """A line chart of the outcomes per impression by day, as inline SVG."""
    count = len(series["days"])
    values = [v for name in RATES for v in series[f"{name}_per_impression"]]
    top = float(max([*values, 0.01]))
    pad = 24

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(count - 1, 1))

    def y(v: float) -> float:
        return float(height - pad - (height - 2 * pad) * v / top)

    lines = []
    for name in RATES:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}"
                          for i, v in enumerate(series[f"{name}_per_impression"]))  # fmt: skip
        lines.append(f'<polyline fill="none" stroke="{COLOURS[name]}" stroke-width="2"'
                     f' points="{points}"><title>{name} per impression</title>'
                     "</polyline>")  # fmt: skip
        lines += [f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{COLOURS[name]}">'
                  f"<title>{series['days'][i]}: {100 * v:.2f}% {name} per impression</title>"
                  "</circle>" for i, v in enumerate(series[f"{name}_per_impression"])]  # fmt: skip
    axis = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"'
            f' stroke="#999"/><text x="2" y="{pad}" font-size="10">{100 * top:.1f}%</text>'
            f'<text x="2" y="{height - pad}" font-size="10">0</text>')  # fmt: skip
    if count:
        axis += (f'<text x="{pad}" y="{height - 6}" font-size="10">{series["days"][0]}</text>'
                 f'<text x="{width - pad - 60}" y="{height - 6}" font-size="10">'
                 f'{series["days"][-1]}</text>')  # fmt: skip
    return (f'<svg class="chart" width="{width}" height="{height}" role="img">'
            f'{axis}{"".join(lines)}</svg>')  # fmt: skip


def _preview() -> dict[str, Any] | None:
    """What each placement would answer for the shopper, item and cart in the query."""
    args = request.args
    user_id = (args.get("user_id") or "").strip() or None
    item_id = (args.get("item_id") or "").strip() or None
    cart = [c.strip() for c in (args.get("cart") or "").split(",") if c.strip()]
    category = (args.get("category") or "").strip() or None
    if not (user_id or item_id or cart):
        return None
    recommender = serving().holder.recommender
    answers: list[dict[str, Any]] = []
    for placement in resources().placements:
        try:
            result = recommender.recommend(placement=placement, user_id=user_id,
                                           item_id=item_id, cart_items=cart, n=5,
                                           filters=Filters(category=category))  # fmt: skip
        except RequestError as exc:
            answers.append({"placement": placement, "error": exc.message})
            continue
        answers.append({"placement": placement, "strategy": result.strategy,
                        "items": result.items, "version": result.model_version})  # fmt: skip
    return {"user_id": user_id, "item_id": item_id, "cart": cart, "answers": answers}
