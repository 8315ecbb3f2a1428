"""``/api/{v}/sites/{site_id}/users``: add, list, get, update and remove a site's users."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep, forget_principals, require_version
from tabhooks.api.wire import (
    Shape,
    fields_of,
    listing_of,
    no_content,
    page_of,
    read_body,
    respond,
    select_fields,
)
from tabhooks.errors import BadRequest
from tabhooks.models import User
from tabhooks.services import users
from tabhooks.store.users import USER_FIELDS
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/users", dependencies=[Depends(require_version())]
)

#: What ``fields=`` may name on Get Users on Site.
SHAPE = Shape(
    frozenset({"id", "name", "siteRole", "authSetting", "fullName", "email", "lastLogin"}), {}
)


def user_element(user: User) -> Element:
    return element(
        "user",
        id=user.id,
        name=user.name,
        siteRole=str(user.site_role),
        authSetting="ServerDefault",
        fullName=user.full_name,
        email=user.email,
        lastLogin=timestamp(user.last_login),
    )


def added_element(user: User) -> Element:
    """Tableau's Add User to Site answer: id, name, site role and auth setting, nothing more.

    A name that already exists adds that server-wide user, and the answer must not hand the
    site admin anything the user's other sites know (email, full name, last sign-in).
    """
    return element(
        "user",
        id=user.id,
        name=user.name,
        siteRole=str(user.site_role),
        authSetting="ServerDefault",
    )


def _user_body(body: Element) -> Element:
    user = body.child("user")
    if user is None:
        raise BadRequest("The request must contain a <user> element.")
    return user


@router.post("", status_code=201, operation_id="addUserToSite")
async def add_user(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    body = _user_body(await read_body(request))
    user = await users.add(
        store, caller, name=body.attr("name") or "", site_role=body.attr("siteRole")
    )
    forget_principals(request)
    return respond(request, added_element(user), status=201)


@router.get("", operation_id="getUsersOnSite")
async def list_users(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    page = page_of(request)
    query = listing_of(request, USER_FIELDS, page)
    asked = fields_of(request, SHAPE)
    found, total = await users.search(store, caller, query)
    items = [select_fields(user_element(u), asked) for u in found]
    return respond(request, page.element(total), listing("users", items))


@router.get("/{user_id}", operation_id="queryUserOnSite")
async def get_user(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, user_element(await users.get(store, caller, user_id)))


@router.put("/{user_id}", operation_id="updateUser")
async def update_user(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    body = _user_body(await read_body(request))
    changes = users.UserChanges(
        name=body.attr("name"),
        full_name=body.attr("fullName"),
        email=body.attr("email"),
        password=body.attr("password"),
        site_role=body.attr("siteRole"),
    )
    user = await users.update(store, caller, user_id, changes)
    forget_principals(request)
    return respond(request, user_element(user))


@router.delete("/{user_id}", status_code=204, operation_id="removeUserFromSite")
async def remove_user(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    await users.remove(store, caller, user_id)
    forget_principals(request)
    return no_content()
