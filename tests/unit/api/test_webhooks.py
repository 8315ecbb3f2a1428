"""Get and List Webhooks' prerendered rows say exactly what the generic element tree says."""

from __future__ import annotations

import pytest

from tabhooks import events, tsxml
from tabhooks.api.webhooks import webhook_element, webhooks_element
from tabhooks.models import WebhookOut
from tabhooks.tsxml import Dialect, Element, element, listing

FIELDS = [
    "id",
    "name",
    "event",
    "url",
    "method",
    "is_enabled",
    "status_change_reason",
    "owner_id",
    "owner_name",
    "created_at",
    "updated_at",
]


def _hook(n: int, **changes: object) -> WebhookOut:
    fields: dict[str, object] = {
        "id": f"0000000{n}-9a0c-4f7e-8c61-2b5f0e4d9a13",
        "name": f"hook {n}",
        "event": "DatasourceRefreshFailed",
        "url": f"https://hooks.example.com/{n}",
        "method": "POST",
        "is_enabled": True,
        "status_change_reason": "",
        "owner_id": "0b6c2f4e-1d8a-4c3b-9e75-6a2d8f1c0e47",
        "owner_name": "admin",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-06-07T08:09:10Z",
    }
    fields.update(changes)
    return tuple(fields[f] for f in FIELDS)  # type: ignore[return-value]


def _generic(hook: WebhookOut) -> Element:
    """The webhook as any other resource is built: one element per node."""
    h = dict(zip(FIELDS, hook, strict=True))
    return element(
        "webhook",
        element("webhook-source", element(events.BY_NAME[str(h["event"])].source_element)),
        element(
            "webhook-destination",
            element("webhook-destination-http", method=h["method"], url=h["url"]),
        ),
        element("owner", id=h["owner_id"] or "", name=h["owner_name"] or ""),
        id=h["id"],
        name=h["name"],
        event=h["event"],
        isEnabled=h["is_enabled"],
        statusChangeReason=h["status_change_reason"],
        createdAt=h["created_at"],
        updatedAt=h["updated_at"],
    )


HOOKS = [
    _hook(1),
    _hook(2, name="a&b<c>\"d'\ttab\nline\r", url='https://x.example.com/?a=1&b="2"'),
    _hook(3, is_enabled=False, status_change_reason="Off & <out>", event="ViewDeleted"),
    _hook(4, owner_id=None, owner_name=None, name="ünïcode ☃"),
]


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("count", [0, 1, len(HOOKS)])
def test_webhooks_element_renders_as_generic_listing(dialect: Dialect, count: int) -> None:
    hooks = HOOKS[:count]
    fast = tsxml.render([webhooks_element(hooks)], dialect)
    generic = tsxml.render([listing("webhooks", [_generic(h) for h in hooks])], dialect)
    assert fast == generic


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: str(h[1]))
def test_webhook_element_renders_as_generic_element(dialect: Dialect, hook: WebhookOut) -> None:
    assert tsxml.render([webhook_element(hook)], dialect) == tsxml.render([_generic(hook)], dialect)
