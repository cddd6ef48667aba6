"""The scrubber: every spelling of a secret is found, whatever characters it holds."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from simapi_async._redact import ScrubbedCause, redact_params, safe_cause, scrub

SECRETS = st.text(min_size=4, max_size=24).filter(lambda s: s.strip() == s and s.isprintable())


def spellings(secret: str) -> list[str]:
    """`secret` as typed, quoted every usual way, as yarl writes it, as JSON and repr."""
    url = URL("http://h/").with_query({"p": secret})
    return [secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
            str(url).partition("?p=")[2], url.human_repr().partition("?p=")[2],
            json.dumps(secret)[1:-1], repr(secret)[1:-1]]


@given(SECRETS)
def test_every_spelling_of_a_secret_is_scrubbed(secret: str) -> None:
    """Each spelling of any printable secret, inside a text, is replaced."""
    for form in spellings(secret):
        assert form not in scrub(f"url='http://h/login?password={form}&x=1'", [secret])


@given(SECRETS)
def test_a_stand_in_cause_never_holds_the_secret(secret: str) -> None:
    """safe_cause keeps the type name and the text, scrubbed of every spelling."""
    url = URL("http://h/api/v2/login").with_query({"login": "u", "password": secret})
    cause = safe_cause(TimeoutError(f"Connection timeout to host {url}"), [secret])
    assert isinstance(cause, ScrubbedCause)
    assert cause.type_name == scrub("builtins.TimeoutError", [secret])  # "Erro" goes too
    shown = repr(cause)
    assert shown.startswith("ScrubbedCause(")
    shown = shown.removeprefix("ScrubbedCause(")  # a secret may spell the class name
    for form in spellings(secret):
        assert form not in str(cause)
        assert form not in shown


def test_percent_escapes_are_matched_in_either_case() -> None:
    """A server that lowercases the escapes (``%2b``) does not get the secret through."""
    assert scrub("p=P%4055w0rd%23 q=p@55w0rd%23 r=P@55w0rd%23", ["P@55w0rd#"]) == \
        "p=*** q=p@55w0rd%23 r=***"
    assert scrub("a%2bb%26c and a%2Bb%26c", ["a+b&c"]) == "*** and ***"


def test_secret_parameters_in_free_text_are_redacted() -> None:
    """The value after password=/token= in a message is hidden even when unknown."""
    assert redact_params("host http://h/login?login=u&password=xyz%20w'") == \
        "host http://h/login?login=u&password=***'"
    assert redact_params("?access_token=abc&page=2") == "?access_token=***&page=2"
    assert redact_params("passwords=1 my_token=2") == "passwords=1 my_token=2"


def test_a_stand_in_cause_survives_copying() -> None:
    """A ScrubbedCause rebuilds from its reduce protocol (pickle, copy) unchanged."""
    cause = safe_cause(ConnectionResetError("reset by peer"), [])
    again = copy.deepcopy(cause)
    assert (type(again), again.type_name, str(again)) == \
        (ScrubbedCause, "builtins.ConnectionResetError", str(cause))


def test_a_replacement_that_spells_the_secret_anew_is_replaced_too() -> None:
    """Scrubbing repeats until no spelling is left, even one the replacement formed."""
    assert "**&x" not in scrub("password=**&x&x=1", ["**&x"])
