"""vrecloud.apicall: which failures are retried, how often, and what is said when they last."""

from __future__ import annotations

import pytest

from vrecloud.apicall import ApiCaller, CloudApiError, Transient, default_timeout
from vrecloud.provision import ProvisionError


class Passing(Exception):
    pass


class TurnedAway(Exception):
    pass


class Refused(Exception):
    pass


def transient(exc):
    if isinstance(exc, TurnedAway):
        return Transient("HTTP 503", not_processed=True)
    if isinstance(exc, Passing):
        return Transient("HTTP 502")
    return None


def explain(what, exc):
    return ProvisionError(f"{what}: refused") if isinstance(exc, Refused) else None


@pytest.fixture
def api():
    pauses: list[float] = []
    caller = ApiCaller(
        "Cloud", transient, explain, attempts=4, first_pause=1, max_pause=3, sleep=pauses.append
    )
    caller.pauses = pauses  # type: ignore[attr-defined]
    return caller


def failing(times, exc_type, result="ok"):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= times:
            raise exc_type("boom")
        return result

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_passing_failures_are_retried_with_growing_pauses(api):
    fn = failing(3, Passing)
    assert api.call("server list", fn) == "ok"
    assert len(fn.calls) == 4 and api.pauses == [1, 2, 3]


def test_a_lasting_failure_is_one_line_naming_the_call(api):
    fn = failing(10, Passing)
    with pytest.raises(CloudApiError) as err:
        api.call("server list", fn)
    assert len(fn.calls) == 4
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("Cloud API: server list failed 4 times (HTTP 502)")
    assert "run the same command again" in message
    assert err.value.brief == "Cloud API: server list: HTTP 502"


def test_a_create_is_retried_only_when_the_cloud_turned_it_away(api):
    turned_away = failing(2, TurnedAway)
    assert api.call("creating vm-1", turned_away, creates=True) == "ok"
    assert len(turned_away.calls) == 3

    maybe_done = failing(1, Passing)
    with pytest.raises(CloudApiError, match="may or may not have been carried out"):
        api.call("creating vm-1", maybe_done, creates=True)
    assert len(maybe_done.calls) == 1, "a create that may have happened is never repeated blindly"


def test_a_refusal_is_explained_at_once_and_a_bug_is_raised_as_it_is(api):
    refused = failing(5, Refused)
    with pytest.raises(ProvisionError, match="flavor list: refused"):
        api.call("flavor list", refused)
    assert len(refused.calls) == 1
    with pytest.raises(KeyError):
        api.call("flavor list", failing(5, KeyError))


def test_a_lazy_list_is_read_inside_the_retry(api):
    pages = []

    def servers():
        def gen():
            yield "page-1 server"
            pages.append(1)
            if len(pages) == 1:
                raise Passing("second page failed")
            yield "page-2 server"

        return gen()

    assert api.call("server list", servers) == ["page-1 server", "page-2 server"]
    assert api.pauses == [1]


def test_default_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("VRE_API_TIMEOUT", raising=False)
    assert default_timeout() == 30.0
    monkeypatch.setenv("VRE_API_TIMEOUT", "2.5")
    assert default_timeout() == 2.5
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("VRE_API_TIMEOUT", bad)
        with pytest.raises(ProvisionError, match="VRE_API_TIMEOUT"):
            default_timeout()
