"""Schemathesis against ``/tabhooks/openapi.json``: every operation of the extension API
(``/tabhooks/v1/...``, and the relay's inbound ``/relay/{route_id}``) with generated
parameters and bodies, valid and invalid, signed in as an administrator.

Path ids are pointed at real things (the admin's site, a bin with a captured request, a
webhook, a relay route) so the generated bodies reach the services instead of stopping at a
404. Operations that delete, or that would connect to a generated URL (a bin's replay, a relay
route's test, which may enrich from a generated server), are left out: the battery must stay
on 127.0.0.1 and keep its targets.

The operations are listed from the app's own schema when the tests are collected (one test
each); the cases are generated from the schema the running server serves.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tabhooks.api.app import create_app
from tabhooks.config import Settings
from tabhooks.store import open_store
from tests.fuzz import strategies as fz
from tests.fuzz.conftest import Target
from tests.fuzz.properties import Sent

EXAMPLES_PER_OPERATION = 30
_FUZZED_PATHS = re.compile(r"^/(tabhooks/v1|relay)/")
#: Deleting would remove the targets; these two connect to URLs the cases choose.
_LEFT_OUT = re.compile(r"^DELETE |/replay$|/relays/\{route_id\}/test$")


def _operations() -> list[str]:
    """``METHOD /path`` of every fuzzed operation, from the app's own OpenAPI document."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'schema.db'}"
        document = create_app(Settings(database_url=url), open_store(url)).openapi()
    found = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if _FUZZED_PATHS.match(path)
    ]
    return sorted(label for label in found if not _LEFT_OUT.search(label))


@pytest.fixture(scope="module")
def real_ids(target: Target) -> dict[str, str]:
    """Ids of real things for the generated paths to name."""
    made = target.json("POST", "/tabhooks/v1/inbox/bins", {"name": "schemathesis"})
    bin_id = str(made["id"])
    captured = target.http.post(f"/inbox/{bin_id}", json={"hello": "fuzz"})
    hook = target.http.post(
        f"{target.api}/webhooks",
        json={"webhook": {"name": "schemathesis", "event": "DatasourceRefreshFailed",
                          "webhook-destination": {"webhook-destination-http": {
                              "method": "POST", "url": "https://example.invalid/h"}}}},
        headers={"X-Tableau-Auth": target.token, "Accept": "application/json"},
    )  # fmt: skip
    assert hook.status_code == 201, hook.text
    relay = target.json("POST", "/tabhooks/v1/relays", {
        "name": "schemathesis", "targets": [{"type": "http", "url": "https://example.invalid/r"}]})  # fmt: skip
    return {
        "site_id": target.site_id,
        "bin_id": bin_id,
        "request_id": captured.headers["x-tabhooks-request-id"],
        "webhook_id": str(hook.json()["webhook"]["id"]),
        "route_id": str(relay["id"]),
    }


@pytest.fixture(scope="module")
def live_schema(target: Target) -> Any:
    return schemathesis.openapi.from_url(f"{target.server.base_url}/tabhooks/openapi.json")


@pytest.mark.parametrize("label", _operations())
def test_extension_api(
    label: str, target: Target, live_schema: Any, real_ids: dict[str, str]
) -> None:
    operation = live_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served /tabhooks/openapi.json"
    names = {p.name for p in operation.path_parameters}
    pinned = {name: real_ids[name] for name in names if name in real_ids}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned or None),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned or None),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        for name, value in pinned.items():  # negative cases may have mangled them
            case.path_parameters[name] = value
        _send(target, case)

    run()


def _send(target: Target, case: Any) -> None:
    kwargs = case.as_transport_kwargs(base_url=target.server.base_url)
    headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
    headers["X-Tableau-Auth"] = target.token
    try:
        request = target.http.build_request(
            kwargs["method"],
            kwargs["url"],
            headers=headers,
            params=kwargs.get("params") or None,
            content=_content(kwargs),
        )
    except (httpx.InvalidURL, UnicodeEncodeError, ValueError):
        return  # not sendable over HTTP at all (e.g. a header value no client can write)
    sent = Sent(request.method, str(request.url), f"headers={headers!r} body={kwargs!r}")
    target.referee.send(target.http, request, sent)


def _content(kwargs: dict[str, Any]) -> bytes | None:
    """The body schemathesis serialized (JSON, or raw data for other media types)."""
    if "json" in kwargs:
        return httpx.Request("POST", "http://x", json=kwargs["json"]).content
    data = kwargs.get("data", kwargs.get("content"))
    if isinstance(data, str):
        return data.encode("utf-8", errors="surrogatepass")
    return data if isinstance(data, bytes) else None


#: JSON API bodies schemathesis would not write: the documented shapes with lone surrogates,
#: 5,000-digit numbers and deep nesting (see :func:`tests.fuzz.strategies.json_bodies`).
_BODIES = {
    ("POST", "/tabhooks/v1/inbox/bins"): {"name": "n", "response_body": "b", "max_requests": 5},
    ("PATCH", "/tabhooks/v1/inbox/bins/{bin_id}"): {"name": "n", "response_headers": {"a": "b"}},
    ("POST", "/tabhooks/v1/relays"): {
        "name": "n",
        "events": ["DatasourceRefreshFailed"],
        "targets": [{"type": "http", "url": "https://example.invalid/x", "template": "t"}],
    },
    ("PUT", "/tabhooks/v1/relays/{route_id}"): {"name": "n", "resource_glob": "a*"},
    ("POST", "/tabhooks/v1/personal-access-tokens"): {"name": "n"},
    ("POST", "/tabhooks/v1/sites/{site_id}/events"): {"event": "SiteUpdated", "resource_name": "n"},
    ("POST", "/tabhooks/v1/sites/{site_id}/deliveries/recover"): {"since": "2026-01-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    ("method", "path"), sorted(_BODIES), ids=[f"{m} {p}" for m, p in sorted(_BODIES)]
)
def test_extension_json_bodies(
    method: str, path: str, target: Target, real_ids: dict[str, str]
) -> None:
    url = path.format(**real_ids)
    example = _BODIES[(method, path)]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=fz.json_bodies(st.just(example) | fz.json_values))
    def run(body: bytes) -> None:
        request = target.http.build_request(
            method,
            url,
            content=body,
            headers={"X-Tableau-Auth": target.token, "Content-Type": "application/json"},
        )
        target.referee.send(target.http, request, Sent(method, url, f"body={body[:300]!r}"))

    run()
