"""The HTTP API: blueprints, marshmallow schemas, error handling, OpenAPI (flask-smorest)."""
