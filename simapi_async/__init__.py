"""simapi_async: the async Python SDK for the M2M/IoT SIM-card management API (v2)."""

from ._config import RetryBudget, RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    SimApiError,
    UnprocessableEntityError,
)
from ._session import AsyncSession, SessionStats
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncSession",
    "AuthenticationError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "RetryBudget",
    "RetryPolicy",
    "ServerError",
    "SessionStats",
    "SimApiError",
    "UnprocessableEntityError",
    "__version__",
]
