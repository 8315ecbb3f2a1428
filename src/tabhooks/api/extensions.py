"""``/tabhooks/v1``: what Tableau does in its UI rather than its REST API, in plain JSON."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import __version__
from tabhooks.api.deps import CallerDep, StoreDep, forget_principals
from tabhooks.services import users

router = APIRouter(prefix="/tabhooks/v1", tags=["tabhooks"])

_USER = Query(
    None,
    max_length=255,
    description="User name; defaults to the caller. Another user's tokens need a server "
    "administrator.",
)


class PatRequest(BaseModel):
    """Create a personal access token for ``user`` (yourself unless you are a server admin)."""

    name: str = Field(min_length=1, max_length=255)
    user: str | None = Field(None, description="User name; defaults to the caller.")


class PatCreated(BaseModel):
    name: str
    user_id: str
    secret: str = Field(description="Shown once; only a hash is stored.")


class Pat(BaseModel):
    """A personal access token as listed: never its secret."""

    name: str
    user_id: str
    user_name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class PatList(BaseModel):
    tokens: list[Pat]


@router.post("/personal-access-tokens", status_code=201, operation_id="createPersonalAccessToken")
async def create_pat(body: PatRequest, store: StoreDep, caller: CallerDep) -> PatCreated:
    user_id, secret = await users.create_pat(
        store, caller, user_name=body.user or caller.user.name, token_name=body.name
    )
    return PatCreated(name=body.name, user_id=user_id, secret=secret)


@router.get("/personal-access-tokens", operation_id="listPersonalAccessTokens")
async def list_pats(store: StoreDep, caller: CallerDep, user: str | None = _USER) -> PatList:
    found = await users.list_pats(store, caller, user_name=user)
    return PatList(
        tokens=[
            Pat(
                name=p.name,
                user_id=p.user_id,
                user_name=p.user_name,
                created_at=p.created_at,
                expires_at=p.expires_at,
                last_used_at=p.last_used_at,
            )
            for p in found
        ]
    )


@router.delete(
    "/personal-access-tokens/{name}", status_code=204, operation_id="revokePersonalAccessToken"
)
async def revoke_pat(
    request: Request, name: str, store: StoreDep, caller: CallerDep, user: str | None = _USER
) -> Response:
    await users.revoke_pat(store, caller, user_name=user or caller.user.name, token_name=name)
    forget_principals(request)
    return Response(status_code=204)


@router.get("/health", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
