"""The public surface: `__all__` matches the public names, and SDK.md's names exist."""

from __future__ import annotations

import simapi_async as sa


def test_all_lists_exactly_the_public_names() -> None:
    """Every public attribute of the package is in __all__ and vice versa (sorted)."""
    public = {
        name for name in vars(sa)
        if not name.startswith("_") and not isinstance(getattr(sa, name), type(sa))
    }
    assert set(sa.__all__) - {"__version__"} == public
    assert list(sa.__all__) == sorted(sa.__all__, key=lambda n: (n.startswith("_"), n))


def test_exception_hierarchy_matches_the_contract() -> None:
    """The error tree of SDK.md holds."""
    assert issubclass(sa.InvalidInputError, sa.SimApiError)
    assert issubclass(sa.InvalidInputError, ValueError)
    assert issubclass(sa.APITimeoutError, sa.APIConnectionError)
    for cls in (sa.AuthenticationError, sa.PermissionDeniedError, sa.NotFoundError,
                sa.UnprocessableEntityError, sa.RateLimitError, sa.ServerError):
        assert issubclass(cls, sa.APIStatusError)
    assert issubclass(sa.APIStatusError, sa.SimApiError)
    assert issubclass(sa.APIConnectionError, sa.SimApiError)


def test_version_is_a_string() -> None:
    """__version__ is exposed from the one place it is written."""
    from simapi_async._version import __version__

    assert sa.__version__ == __version__
