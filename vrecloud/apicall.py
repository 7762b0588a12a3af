"""The one way the providers call a cloud's API: bounded retries on passing failures, then one line.

Every OpenStack and Synnefo call goes through `ApiCaller.call`:

- A passing failure (HTTP 5xx or 429, a connection refused or reset, a request that timed out) is
  retried with a growing pause, `attempts` times in all. A call that creates something (`creates=
  True`) is retried only where the cloud cannot have acted on it (HTTP 503 or 429: the request
  was turned away), so a retry never makes a second server; any other failure of a create is
  reported, and the next run finds what the first one made by its tags.
- A result that is a lazy iterator (openstacksdk's list calls fetch their pages while being
  iterated) is read to the end inside the retry, so a failure on any page is handled here too.
- Whatever still fails becomes a `ProvisionError` with one line: the cloud, the call, the reason
  and what to do. Never a traceback: a refusal (4xx) is explained by the provider's `explain`.

Every request has a timeout: the cloud configuration's own (clouds.yaml `api_timeout`) or else
`default_timeout()`, 30 s unless $VRE_API_TIMEOUT says otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vrecloud.provision import ProvisionError, log

DEFAULT_TIMEOUT = 30.0


def default_timeout() -> float:
    """Seconds one API request may take when the cloud's configuration sets no timeout."""
    raw = os.environ.get("VRE_API_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ProvisionError(f"VRE_API_TIMEOUT={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ProvisionError(f"VRE_API_TIMEOUT={raw!r} must be a positive number of seconds")
    return value


@dataclass(frozen=True)
class Transient:
    """Why a failure may pass, and whether the cloud surely did not act on the request."""

    reason: str
    not_processed: bool = False


class CloudApiError(ProvisionError):
    """The cloud's API kept failing (or stalling) for one call; `brief` says so in a few words."""

    def __init__(self, message: str, brief: str) -> None:
        super().__init__(message)
        self.brief = brief


@dataclass
class ApiCaller:
    """`cloud` names the API in messages; `transient(exc)` tells a passing failure (a `Transient`)
    from a refusal (None); `explain(what, exc)` turns a refusal into a ProvisionError (or None for
    an exception that is not the cloud's: it is raised as it is, a bug to see)."""

    cloud: str
    transient: Callable[[BaseException], Transient | None]
    explain: Callable[[str, BaseException], ProvisionError | None]
    attempts: int = 4
    first_pause: float = 1.0
    max_pause: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def call(
        self, what: str, fn: Callable[..., Any], *args: Any, creates: bool = False, **kwargs: Any
    ) -> Any:
        pause = self.first_pause
        for attempt in range(1, self.attempts + 1):
            try:
                result = fn(*args, **kwargs)
                if isinstance(result, Iterator):
                    result = list(result)
                return result
            except ProvisionError:
                raise
            except Exception as exc:
                passing = self.transient(exc)
                if passing is None:
                    refusal = self.explain(what, exc)
                    if refusal is None:
                        raise
                    raise refusal from exc
                brief = f"{self.cloud} API: {what}: {passing.reason}"
                if creates and not passing.not_processed:
                    raise CloudApiError(
                        f"{self.cloud} API: {what} failed ({passing.reason}) and may or may not have "
                        "been carried out: run the same command again (it finds what was made by its "
                        "tags and completes the rest)",
                        brief,
                    ) from exc
                if attempt == self.attempts:
                    raise CloudApiError(
                        f"{self.cloud} API: {what} failed {attempt} times ({passing.reason}): the cloud's "
                        "API is not answering well; wait a few minutes and run the same command again "
                        "(a re-run keeps what exists and completes the rest)",
                        brief,
                    ) from exc
                log(f"{brief}; retry {attempt} of {self.attempts - 1} in {pause:g}s")
                self.sleep(pause)
                pause = min(pause * 2, self.max_pause)
        raise AssertionError("unreachable")  # pragma: no cover
