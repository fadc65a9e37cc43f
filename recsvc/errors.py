"""The error tree of recsvc: domain errors only, no HTTP.

RecsvcError
├── ConfigError            a setting or option that cannot be used
├── DataError              an events or catalog file that cannot be used (file, row, field)
├── ModelStoreError
│   ├── UnknownVersion     no such version in the store
│   ├── NoCurrentVersion   nothing published yet
│   └── CorruptVersion     a version whose files are missing or fail their checksums
├── QualityGateFailed      a retrained model worse than the current one beyond the margin
├── RequestError           a recommendation request that cannot be answered (the field at fault)
│   ├── InvalidRequest     asked wrongly: a missing or unusable value (HTTP 422)
│   └── UnknownItem        an item the model does not know (HTTP 404)
├── NoModelLoaded          a serving process with no model yet (HTTP 503)
└── StoreUnavailable       the event store did not answer in time (HTTP 503)
"""

from __future__ import annotations


class RecsvcError(Exception):
    """Base class of every error recsvc raises on purpose."""


class ConfigError(RecsvcError):
    """A setting (environment variable or option) with a value that cannot be used."""


class DataError(RecsvcError):
    """Input data that cannot be used, with the file, row and field at fault.

    ``row`` counts data rows from 1 (a CSV header is not a row); ``None`` when the
    problem is the file as a whole (missing column, empty file).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        row: int | None = None,
        field: str | None = None,
        more: int = 0,
    ) -> None:
        self.message = message
        self.source = source
        self.row = row
        self.field = field
        self.more = more
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.more:
            text += f" (and {self.more} more row{'s' if self.more > 1 else ''} like it)"
        return text


class ModelStoreError(RecsvcError):
    """A problem with the model store or a version in it."""


class UnknownVersion(ModelStoreError):
    """A version name the model store does not hold."""


class NoCurrentVersion(ModelStoreError):
    """The model store has no current version: nothing was published yet."""


class CorruptVersion(ModelStoreError):
    """A version whose manifest or files are missing, unreadable or fail their checksums."""


class QualityGateFailed(RecsvcError):
    """A retrained model scores worse than the current version beyond the allowed margin."""


class RequestError(RecsvcError):
    """A request the recommender cannot answer, with the field at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class InvalidRequest(RequestError):
    """A request the recommender cannot answer as asked: a value missing or unusable
    (HTTP 422)."""


class NotFound(RequestError):
    """Something a request names that does not exist (HTTP 404)."""


class UnknownItem(NotFound):
    """An item id the model does not know (HTTP 404)."""


class NoModelLoaded(RecsvcError):
    """A serving process that has no model to answer with (HTTP 503)."""


class StoreUnavailable(RecsvcError):
    """The event store did not answer within the serving timeout (HTTP 503)."""
