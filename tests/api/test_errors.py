"""One JSON error shape for every error; domain errors mapped to their statuses."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_malformed_and_oversized_bodies_and_unknown_routes(client: FlaskClient) -> None:
    bad = client.post("/v1/recommendations", data="{not json",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert bad.status_code == 400
    assert bad.get_json()["message"]
    big = client.post("/v1/recommendations", data=b"[" + b"1," * 600_000 + b"1]",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    assert "RECSVC_MAX_BODY_BYTES" in big.get_json()["message"]
    missing = client.get("/v1/nowhere")
    assert missing.status_code == 404
    assert set(missing.get_json()) == {"code", "status", "message", "errors"}
    assert list(missing.get_json()["errors"]) == ["path"]
    wrong_method = client.delete("/v1/popular")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["code"] == 405


def test_an_unknown_item_is_404_and_a_bad_request_422(client: FlaskClient) -> None:
    unknown = client.get("/v1/items/ghost/similar")
    assert unknown.status_code == 404
    assert unknown.get_json() == {"code": 404, "status": "Not Found",
                                  "message": "unknown item 'ghost'",
                                  "errors": {"item_id": ["unknown item 'ghost'"]}}  # fmt: skip
    needs = client.post("/v1/recommendations", json={"placement": "category"})
    assert needs.status_code == 422
    assert needs.get_json()["errors"] == {"category": ["placement 'category' needs a category"]}
