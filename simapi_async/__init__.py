"""simapi_async: the async Python SDK for the M2M/IoT SIM-card management API (v2)."""

from ._config import RetryBudget, RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BulkError,
    InvalidInputError,
    JournalError,
    NotAttemptedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    SimApiError,
    UnprocessableEntityError,
)
from ._logs import setup_logging as _setup_logging
from ._session import AsyncSession, SessionStats
from ._version import __version__
from .bulk import BulkPlan, BulkProgress, BulkReport, ItemResult, Target, UndoRefusedError
from .models import InternetCdr, OperationResult, Packet, Page, Sim, SmallPacket
from .resources._sync import SyncProgress, SyncReport

_setup_logging()

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncSession",
    "AuthenticationError",
    "BulkError",
    "BulkPlan",
    "BulkProgress",
    "BulkReport",
    "InternetCdr",
    "InvalidInputError",
    "ItemResult",
    "JournalError",
    "NotAttemptedError",
    "NotFoundError",
    "OperationResult",
    "Packet",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "RetryBudget",
    "RetryPolicy",
    "ServerError",
    "SessionStats",
    "Sim",
    "SimApiError",
    "SmallPacket",
    "SyncProgress",
    "SyncReport",
    "Target",
    "UndoRefusedError",
    "UnprocessableEntityError",
    "__version__",
]
