"""``/tabhooks/v1/relays`` (manage routes) and ``/relay/{route_id}`` (where payloads arrive).

Management is plain JSON with the ``X-Tableau-Auth`` token of a site administrator; a route
belongs to the caller's site. The inbound URL needs no session — Tableau cannot send one —
so its unguessable id is the capability, optionally backed by a shared-secret header, and each
route takes at most TABHOOKS_RELAY_INBOUND_BURST requests at once and
TABHOOKS_RELAY_INBOUND_RATE_PER_S sustained (429 with Retry-After beyond).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tabhooks.api.deps import CallerDep, StoreDep
from tabhooks.api.wire import base_url
from tabhooks.services import relays
from tabhooks.services.relays import EnrichSource, Received, RouteSpec, TargetSpec

router = APIRouter(prefix="/tabhooks/v1/relays", tags=["relay"])
inbound_router = APIRouter(tags=["relay"])


class TargetIn(BaseModel):
    type: Literal["slack", "teams", "ifttt", "http"]
    url: str
    method: str = Field("POST", description="http targets only; the others always POST.")
    headers: dict[str, str] = Field(default_factory=dict)
    template: str | None = Field(
        None,
        description="Sandboxed Jinja2: the whole body of an http target, the message text of "
        "the others.",
    )


class EnrichWithIn(BaseModel):
    """Where enrichment looks resources up; ``{}`` is this server's own store."""

    profile: str | None = Field(
        None,
        description="A `tabhooks login` profile in the server's config directory; server "
        "administrators only (a profile signs in as the operator).",
    )
    server: str | None = Field(None, description="Tableau Server or Cloud URL (or a tabhooks).")
    site: str = Field("", description="With server: the site's content URL.")
    pat_name: str | None = Field(None, description="With server: a personal access token name.")
    pat_secret: str | None = Field(
        None, description="With server: the token's secret; stored, never shown again."
    )


class RouteIn(BaseModel):
    """A relay route; on update, omitted fields keep their value."""

    name: str | None = None
    events: list[str] | None = Field(None, description="Event names in either spelling; [] = all.")
    resource_glob: str | None = Field(None, description="Glob on resource_name, e.g. 'Sales*'.")
    site_luid: str | None = Field(None, description="Only payloads from this site LUID.")
    secret: str | None = Field(None, description="Require this value in the secret header.")
    secret_header: str | None = Field(None, description="Default X-Tabhooks-Relay-Secret.")
    enrich: bool | None = Field(None, description="Look the resource up for templates.")
    targets: list[TargetIn] | None = None
    sign: bool | None = Field(
        None,
        description="true: generate a Standard Webhooks secret that signs the http targets "
        "(shown once, in this answer); false: stop signing.",
    )
    signing_secret: str | None = Field(
        None, description='Sign with this whsec_ secret instead; "" stops signing.'
    )
    enrich_with: EnrichWithIn | None = Field(
        None, description="Look resources up over REST (turns enrich on unless it is false)."
    )

    @property
    def sets_secret(self) -> bool:
        """Whether this request chose a new secret, so the answer shows it (once)."""
        return bool(self.sign) or bool(self.signing_secret)

    def spec(self) -> RouteSpec:
        targets = None
        if self.targets is not None:
            targets = [TargetSpec(**t.model_dump()) for t in self.targets]
        enrich_with = EnrichSource(**self.enrich_with.model_dump()) if self.enrich_with else None
        fields = self.model_dump(exclude={"targets", "enrich_with"})
        return RouteSpec(**fields, targets=targets, enrich_with=enrich_with)


class TargetOut(BaseModel):
    id: str
    type: str
    url: str
    method: str
    headers: dict[str, str]
    template: str | None


class EnrichWithOut(BaseModel):
    source: Literal["local", "profile", "server"]
    profile: str | None
    server: str | None
    site: str | None
    pat_name: str | None


class RouteOut(BaseModel):
    id: str
    inbound_url: str
    name: str
    events: list[str]
    resource_glob: str
    site_luid: str
    secret_required: bool
    secret_header: str
    enrich: bool
    enrich_with: EnrichWithOut
    targets: list[TargetOut]
    signed: bool = Field(description="Whether http targets get webhook-signature headers.")
    signing_secret: str | None = Field(
        None, description="Only in the answer to the request that set it."
    )
    created_at: datetime
    updated_at: datetime


class RouteList(BaseModel):
    relays: list[RouteOut]


class TestIn(BaseModel):
    event: str = "DatasourceRefreshFailed"


class ReceivedOut(BaseModel):
    queued: int
    filtered: bool
    delivery_ids: list[str]
    errors: dict[str, str] = Field(description="Deliveries failed at once: template errors.")


def _route(request: Request, row: dict[str, Any], *, show_secret: bool = False) -> RouteOut:
    return RouteOut(
        id=row["id"],
        inbound_url=f"{base_url(request)}/relay/{row['id']}",
        name=row["name"],
        events=json.loads(row["events"]),
        resource_glob=row["resource_glob"],
        site_luid=row["site_filter"],
        secret_required=row["secret_hash"] is not None,
        secret_header=row["secret_header"],
        enrich=row["enrich"],
        enrich_with=_enrich_with(row),
        targets=[TargetOut(**{k: t[k] for k in TargetOut.model_fields}) for t in row["targets"]],
        signed=row["signing_secret"] is not None,
        signing_secret=row["signing_secret"] if show_secret else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _enrich_with(row: dict[str, Any]) -> EnrichWithOut:
    """Where the route enriches from; the PAT secret is never part of it."""
    source: Literal["local", "profile", "server"] = "local"
    if row["enrich_profile"]:
        source = "profile"
    elif row["enrich_server"]:
        source = "server"
    return EnrichWithOut(
        source=source,
        profile=row["enrich_profile"],
        server=row["enrich_server"],
        site=row["enrich_site"],
        pat_name=row["enrich_pat_name"],
    )


def _received(result: Received) -> ReceivedOut:
    return ReceivedOut(
        queued=result.queued,
        filtered=result.filtered,
        delivery_ids=list(result.delivery_ids),
        errors=result.errors,
    )


@router.post("", status_code=201, operation_id="createRelay")
async def create_relay(
    body: RouteIn, request: Request, store: StoreDep, caller: CallerDep
) -> RouteOut:
    policy = request.app.state.destination_policy
    renderer = request.app.state.renderer
    route = await relays.create(store, caller, body.spec(), policy, renderer=renderer)
    return _route(request, route, show_secret=body.sets_secret)


@router.get("", operation_id="listRelays")
async def list_relays(request: Request, store: StoreDep, caller: CallerDep) -> RouteList:
    return RouteList(relays=[_route(request, r) for r in await relays.listing(store, caller)])


@router.get("/{route_id}", operation_id="getRelay")
async def get_relay(
    route_id: str, request: Request, store: StoreDep, caller: CallerDep
) -> RouteOut:
    return _route(request, await relays.get(store, caller, route_id))


@router.put("/{route_id}", operation_id="updateRelay")
async def update_relay(
    route_id: str, body: RouteIn, request: Request, store: StoreDep, caller: CallerDep
) -> RouteOut:
    policy = request.app.state.destination_policy
    renderer = request.app.state.renderer
    route = await relays.update(store, caller, route_id, body.spec(), policy, renderer=renderer)
    return _route(request, route, show_secret=body.sets_secret)


@router.delete("/{route_id}", status_code=204, operation_id="deleteRelay")
async def delete_relay(route_id: str, store: StoreDep, caller: CallerDep) -> Response:
    await relays.delete(store, caller, route_id)
    return Response(status_code=204)


@router.post("/{route_id}/test", status_code=202, operation_id="testRelay")
async def test_relay(
    route_id: str, body: TestIn, request: Request, store: StoreDep, caller: CallerDep
) -> ReceivedOut:
    result = await relays.test(
        store,
        caller,
        route_id,
        body.event,
        base_url=base_url(request),
        renderer=request.app.state.renderer,
        enricher=request.app.state.enricher,
    )
    return _received(result)


@inbound_router.post("/relay/{route_id}", status_code=202, operation_id="relayInbound")
async def relay_inbound(route_id: str, request: Request, store: StoreDep) -> JSONResponse:
    result = await relays.receive(
        store,
        route_id,
        {k.lower(): v for k, v in request.headers.items()},
        await request.body(),
        base_url=base_url(request),
        renderer=request.app.state.renderer,
        enricher=request.app.state.enricher,
        limiter=request.app.state.relay_limiter,
    )
    return JSONResponse(_received(result).model_dump(), status_code=202)
