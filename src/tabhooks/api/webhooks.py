"""``/api/{v}/sites/{site_id}/webhooks``: Tableau's webhook methods (3.6+, update 3.8+)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import events
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.errors import BadRequest
from tabhooks.models import Webhook
from tabhooks.services import webhook_test, webhooks
from tabhooks.tsxml import Element, Prerendered, element, escape_attr, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/webhooks",
    dependencies=[Depends(require_version("3.6"))],
)


def webhook_element(webhook: Webhook) -> Element:
    """Both event spellings, always: TSC reads only ``<webhook-source>``.

    Rendered straight to text for both dialects: List Webhooks returns thousands of these.
    """
    source = events.BY_NAME[webhook.event].source_element
    created, updated = timestamp(webhook.created_at), timestamp(webhook.updated_at)
    owner_id, owner_name = webhook.owner_id or "", webhook.owner_name or ""
    enabled = "true" if webhook.is_enabled else "false"
    e = escape_attr
    xml = (
        f'<webhook id="{e(webhook.id)}" name="{e(webhook.name)}" event="{webhook.event}" '
        f'isEnabled="{enabled}" statusChangeReason="{e(webhook.status_change_reason)}" '
        f'createdAt="{created}" updatedAt="{updated}">'
        f"<webhook-source><{source} /></webhook-source>"
        f'<webhook-destination><webhook-destination-http method="{e(webhook.method)}" '
        f'url="{e(webhook.url)}" /></webhook-destination>'
        f'<owner id="{e(owner_id)}" name="{e(owner_name)}" /></webhook>'
    )

    def as_json() -> dict[str, object]:
        return {
            "id": webhook.id,
            "name": webhook.name,
            "event": webhook.event,
            "isEnabled": webhook.is_enabled,
            "statusChangeReason": webhook.status_change_reason,
            "createdAt": created,
            "updatedAt": updated,
            "webhook-source": {source: {}},
            "webhook-destination": {
                "webhook-destination-http": {"method": webhook.method, "url": webhook.url}
            },
            "owner": {"id": owner_id, "name": owner_name},
        }

    return Prerendered("webhook", xml, as_json)


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


@router.post("", status_code=201, operation_id="createWebhook")
async def create_webhook(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    spec = _spec(await read_body(request))
    webhook = await webhooks.create(store, caller, _policy(request), spec)
    location = (
        f"/api/{request.path_params['api_version']}/sites/{caller.site.id}/webhooks/{webhook.id}"
    )
    return respond(request, webhook_element(webhook), status=201, headers={"Location": location})


@router.get("", operation_id="listWebhooks")
async def list_webhooks(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    found = await webhooks.listing(store, caller)
    return respond(request, listing("webhooks", [webhook_element(w) for w in found]))


@router.get("/{webhook_id}", operation_id="getWebhook")
async def get_webhook(
    request: Request, webhook_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    # Some clients send a body with this GET (`<tsRequest />`); it is ignored.
    return respond(request, webhook_element(await webhooks.get(store, caller, webhook_id)))


@router.put(
    "/{webhook_id}", operation_id="updateWebhook", dependencies=[Depends(require_version("3.8"))]
)
async def update_webhook(
    request: Request, webhook_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    spec = _spec(await read_body(request))
    webhook = await webhooks.update(store, caller, _policy(request), webhook_id, spec)
    return respond(request, webhook_element(webhook))


@router.delete("/{webhook_id}", status_code=204, operation_id="deleteWebhook")
async def delete_webhook(webhook_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await webhooks.delete(store, caller, webhook_id)
    return no_content()


@router.get("/{webhook_id}/test", operation_id="testWebhook")
async def test_webhook(
    request: Request, webhook_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
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
