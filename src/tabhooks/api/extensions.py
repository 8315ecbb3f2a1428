"""``/tabhooks/v1``: what Tableau does in its UI rather than its REST API, in plain JSON."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tabhooks import __version__
from tabhooks.api.deps import CallerDep, StoreDep
from tabhooks.services import users

router = APIRouter(prefix="/tabhooks/v1", tags=["tabhooks"])


class PatRequest(BaseModel):
    """Create a personal access token for ``user`` (yourself unless you are a server admin)."""

    name: str = Field(min_length=1, max_length=255)
    user: str | None = Field(None, description="User name; defaults to the caller.")


class PatCreated(BaseModel):
    name: str
    user_id: str
    secret: str = Field(description="Shown once; only a hash is stored.")


@router.post("/personal-access-tokens", status_code=201, operation_id="createPersonalAccessToken")
async def create_pat(body: PatRequest, store: StoreDep, caller: CallerDep) -> PatCreated:
    user_id, secret = await users.create_pat(
        store, caller, user_name=body.user or caller.user.name, token_name=body.name
    )
    return PatCreated(name=body.name, user_id=user_id, secret=secret)


@router.get("/health", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
