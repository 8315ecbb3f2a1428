"""The Python samples under docs/samples: held to the code's standards, and the receiver's
refusals, which the docs' run (docs/recipes.md, one happy path) never meets.

``tests/test_lint.py`` checks ``src``, ``tests`` and ``bench``; the samples are code readers
copy, so they get the same ``ruff`` and ``mypy --strict`` here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.docs.harness import ROOT
from tests.test_lint import _ruff

SAMPLES = sorted((ROOT / "docs" / "samples").glob("*.py"))
SECRET = "whsec_" + "c2VjcmV0LWtleS1vZi10aGUtdGVzdHMtMzItYnl0ZXMh"


def test_there_are_python_samples() -> None:
    assert ROOT / "docs" / "samples" / "receiver.py" in SAMPLES


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_samples_are_ruff_clean(args: list[str]) -> None:
    result = subprocess.run(
        [*_ruff(), *args, *map(str, SAMPLES)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_samples_are_mypy_strict_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *map(str, SAMPLES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the receiver of docs/recipes.md ----------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Iterator[ModuleType]:
    """docs/samples/receiver.py, imported as a module (registered while the tests run, as its
    dataclasses need)."""
    name = "docs_samples_receiver"
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "samples" / "receiver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def _receiver(sample: ModuleType, secret: str | None = SECRET) -> Any:
    """A receiver whose server is a closed port on loopback: any REST call it makes fails."""
    tableau = sample.Tableau("http://127.0.0.1:9", "", "receiver", "not-a-secret")
    verifier = Webhook(secret) if secret else None
    return sample.Receiver(tableau, "http://127.0.0.1:9/relay/rly_x", verifier=verifier)


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", now, body)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


CREATED = json.dumps(
    {
        "resource": "WORKBOOK",
        "event_type": "WorkbookCreated",
        "resource_name": "Regional Sales",
        "site_luid": "9a8b7c6d-0000-0000-0000-000000000000",
        "resource_luid": "d86a415b-0000-0000-0000-000000000000",
        "created_at": "2026-11-23T19:19:38Z",
    }
).encode()


def test_the_receiver_refuses_what_its_secret_did_not_sign(sample: ModuleType) -> None:
    receiver = _receiver(sample)
    status, text = receiver.handle(CREATED, {})
    assert status == 401 and text.startswith("signature refused")
    other = "whsec_" + "b3RoZXIta2V5LW9mLXRoZS10ZXN0cy0zMi1ieXRlcyE="
    assert receiver.handle(CREATED, _signed(CREATED, other))[0] == 401
    assert receiver.tableau.token is None  # never signed in: nothing was acted on


def test_the_receiver_ignores_other_events_and_refuses_what_is_no_payload(
    sample: ModuleType,
) -> None:
    receiver = _receiver(sample)
    deleted = CREATED.replace(b"WorkbookCreated", b"WorkbookDeleted")
    assert receiver.handle(deleted, _signed(deleted)) == (200, "ignored WorkbookDeleted")
    assert receiver.handle(b"", _signed(b"")) == (200, "ignored an empty payload")
    assert receiver.handle(b"<xml/>", _signed(b"<xml/>")) == (400, "not JSON")
    assert receiver.handle(b"[1]", _signed(b"[1]")) == (400, "not a Tableau webhook payload")
    partial = b'{"event_type": "WorkbookCreated", "resource_luid": 7}'
    status, text = receiver.handle(partial, _signed(partial))
    assert status == 400 and text.startswith("a WorkbookCreated payload has site_luid")
    assert _receiver(sample, secret=None).handle(b"", {}) == (200, "ignored an empty payload")


def test_the_receiver_answers_500_when_it_could_not_act_so_the_sender_retries(
    sample: ModuleType,
) -> None:
    receiver = _receiver(sample, secret=None)
    status, text = receiver.handle(CREATED, {})
    assert status == 500 and text.startswith("not done, retry later: POST /api/3.28/auth/signin")
    assert receiver.handled == {}  # so the retry is acted on, not taken for a duplicate
