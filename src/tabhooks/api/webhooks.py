"""``/api/{v}/sites/{site_id}/webhooks``: Tableau's webhook methods (3.6+, update 3.8+)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import events
from tabhooks.api.deps import SiteCaller, store_of
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.errors import BadRequest
from tabhooks.models import Webhook, WebhookOut
from tabhooks.services import webhook_test, webhooks
from tabhooks.services.principal import Principal
from tabhooks.tsxml import Element, Prerendered, element, escape_attr, needs_escape, timestamp

router = APIRouter(prefix="/api/{api_version}/sites/{site_id}/webhooks")


def _path_params() -> dict[str, object]:
    """OpenAPI for the prefix's parameters, which :class:`SiteCaller` reads unvalidated."""
    return {
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("api_version", "site_id")
        ]
    }


#: The caller of a webhook method (3.6+); one dependency, as the hottest routes (see SiteCaller).
CallerDep = Annotated[Principal, Depends(SiteCaller("3.6"))]
#: The caller of Update Webhook, which Tableau added in 3.8.
UpdateCallerDep = Annotated[Principal, Depends(SiteCaller("3.8"))]


def _xml(webhook: WebhookOut) -> str:
    """Both event spellings, always: TSC reads only ``<webhook-source>``.

    Escaping is decided once per row: almost no row needs any, and seven checks per row
    were a third of rendering a list. ``event`` comes from our own catalogue and the
    timestamps from the database's formatting, so neither can need escaping.
    """
    id_, name, event, url, method, enabled, reason, owner_id, owner_name, created, updated = webhook
    owner_id, owner_name = owner_id or "", owner_name or ""
    if needs_escape(f"{id_}{name}{url}{method}{reason}{owner_id}{owner_name}"):
        e = escape_attr
        id_, name, url, method = e(id_), e(name), e(url), e(method)
        reason, owner_id, owner_name = e(reason), e(owner_id), e(owner_name)
    source = events.BY_NAME[event].source_element
    return (
        f'<webhook id="{id_}" name="{name}" event="{event}" '
        f'isEnabled="{"true" if enabled else "false"}" statusChangeReason="{reason}" '
        f'createdAt="{created}" updatedAt="{updated}">'
        f"<webhook-source><{source} /></webhook-source>"
        f'<webhook-destination><webhook-destination-http method="{method}" url="{url}" />'
        f'</webhook-destination><owner id="{owner_id}" name="{owner_name}" />'
        "</webhook>"
    )


def _json(webhook: WebhookOut) -> dict[str, object]:
    id_, name, event, url, method, enabled, reason, owner_id, owner_name, created, updated = webhook
    return {
        "id": id_,
        "name": name,
        "event": event,
        "isEnabled": enabled,
        "statusChangeReason": reason,
        "createdAt": created,
        "updatedAt": updated,
        "webhook-source": {events.BY_NAME[event].source_element: {}},
        "webhook-destination": {"webhook-destination-http": {"method": method, "url": url}},
        "owner": {"id": owner_id or "", "name": owner_name or ""},
    }


def webhook_element(webhook: WebhookOut) -> Element:
    """One ``<webhook>``, rendered straight to text (see :func:`webhooks_element`)."""
    return Prerendered("webhook", _xml(webhook), lambda: _json(webhook))


def webhooks_element(found: Sequence[WebhookOut]) -> Element:
    """``<webhooks>`` as :func:`tsxml.listing` would render it, written in one join.

    List Webhooks returns thousands of rows: one string per row from the row's own tuple, and
    no element objects, is what keeps a list of 1,000 near twenty Gets (docs/performance.md).
    """
    if not found:
        return Prerendered("webhooks", "<webhooks />", dict)
    xml = "".join(["<webhooks>", *map(_xml, found), "</webhooks>"])
    return Prerendered("webhooks", xml, lambda: {"webhook": [_json(w) for w in found]})


def _out(webhook: Webhook) -> WebhookOut:
    """What Create and Update Webhook answer with: the record they wrote."""
    return (
        webhook.id,
        webhook.name,
        webhook.event,
        webhook.url,
        webhook.method,
        webhook.is_enabled,
        webhook.status_change_reason,
        webhook.owner_id,
        webhook.owner_name,
        timestamp(webhook.created_at) or "",
        timestamp(webhook.updated_at) or "",
    )


def _spec(body: Element) -> webhooks.WebhookSpec:
    node = body.child("webhook")
    if node is None:
        raise BadRequest("The request must contain a <webhook> element.")
    source = node.child("webhook-source")
    if source is not None and len(source.children) > 1:
        raise BadRequest("<webhook-source> must contain exactly one event element.")
    destination = node.child("webhook-destination")
    http = destination.child("webhook-destination-http") if destination else None
    if destination is not None and http is None:
        raise BadRequest("<webhook-destination> must contain <webhook-destination-http>.")
    return webhooks.WebhookSpec(
        name=node.attr("name"),
        event=node.attr("event") or None,
        source_event=source.children[0].tag if source is not None and source.children else None,
        url=http.attr("url") if http else None,
        method=http.attr("method") if http else None,
        is_enabled=node.attr_bool("isEnabled"),
        status_change_reason=node.attr("statusChangeReason"),
    )


def _policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


# Get first: routes are tried in the order they are declared, and it is the hottest.
@router.get("/{webhook_id}", operation_id="getWebhook", openapi_extra=_path_params())
async def get_webhook(request: Request, webhook_id: str, caller: CallerDep) -> Response:
    # Some clients send a body with this GET (`<tsRequest />`); it is ignored.
    webhook = await webhooks.get(store_of(request), caller, webhook_id)
    return respond(request, webhook_element(webhook))


@router.post("", status_code=201, operation_id="createWebhook", openapi_extra=_path_params())
async def create_webhook(request: Request, caller: CallerDep) -> Response:
    spec = _spec(await read_body(request))
    webhook = await webhooks.create(store_of(request), caller, _policy(request), spec)
    location = (
        f"/api/{request.path_params['api_version']}/sites/{caller.site.id}/webhooks/{webhook.id}"
    )
    return respond(
        request, webhook_element(_out(webhook)), status=201, headers={"Location": location}
    )


@router.get("", operation_id="listWebhooks", openapi_extra=_path_params())
async def list_webhooks(request: Request, caller: CallerDep) -> Response:
    found = await webhooks.listing(store_of(request), caller)
    return respond(request, webhooks_element(found))


@router.put("/{webhook_id}", operation_id="updateWebhook", openapi_extra=_path_params())
async def update_webhook(request: Request, webhook_id: str, caller: UpdateCallerDep) -> Response:
    spec = _spec(await read_body(request))
    webhook = await webhooks.update(store_of(request), caller, _policy(request), webhook_id, spec)
    return respond(request, webhook_element(_out(webhook)))


@router.delete(
    "/{webhook_id}", status_code=204, operation_id="deleteWebhook", openapi_extra=_path_params()
)
async def delete_webhook(request: Request, webhook_id: str, caller: CallerDep) -> Response:
    await webhooks.delete(store_of(request), caller, webhook_id)
    return no_content()


@router.get("/{webhook_id}/test", operation_id="testWebhook", openapi_extra=_path_params())
async def test_webhook(request: Request, webhook_id: str, caller: CallerDep) -> Response:
    store = store_of(request)
    webhook = await webhooks.get_for_test(store, caller, webhook_id)
    sender: Sender = request.app.state.sender
    result = await webhook_test.run(store, sender, webhook)
    return respond(
        request,
        element(
            "webhookTestResult",
            element("body", text=result.body),
            id=result.webhook_id,
            status=result.status,
        ),
    )
