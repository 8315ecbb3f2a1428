"""Tableau's group methods: ``/groups`` (create, query, update, delete), a group's users (add,
remove, list, and the bulk add/remove of API 3.21) and ``/users/{id}/groups``.

A group renders as Tableau's local groups do: ``<group id name userCount>`` with
``<domain name="local"/>``, plus ``<import domainName="local" siteRole grantLicenseMode>``
when it has a minimum site role (where TSC reads ``minimum_site_role``). Only local groups
exist here: an Active Directory ``<import source="ActiveDirectory">`` is ``400000``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import filters_of, no_content, page_of, read_body, respond
from tabhooks.errors import BadRequest, InvalidParameter
from tabhooks.models import User
from tabhooks.services import groups
from tabhooks.store.groups import Group, GroupQuery
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)

_FILTERS = {
    "name": {"eq", "in", "cieq"},
    "luid": {"eq", "in"},
    "domainName": {"eq", "in"},
    "minimumSiteRole": {"eq", "in"},
    "isLocal": {"eq"},
    "userCount": {"eq", "gt", "gte", "lt", "lte"},
}
_SORTS = {"name", "minimumSiteRole", "userCount", "domainName"}


def group_element(group: Group) -> Element:
    return element(
        "group",
        element("domain", name="local"),
        element(
            "import",
            domainName="local",
            siteRole=group.minimum_site_role,
            grantLicenseMode="onLogin",
        )
        if group.minimum_site_role
        else None,
        id=group.id,
        name=group.name,
        userCount=group.user_count,
        minimumSiteRole=group.minimum_site_role,
    )


def member_element(user: User) -> Element:
    """A user as Get Users in Group lists them: who, their role, their last sign-in."""
    return element(
        "user",
        id=user.id,
        name=user.name,
        siteRole=str(user.site_role),
        lastLogin=timestamp(user.last_login),
        externalAuthUserId="",
        authSetting="ServerDefault",
    )


def _group_body(body: Element) -> Element:
    node = body.child("group")
    if node is None:
        raise BadRequest("The request must contain a <group> element.")
    imported = node.child("import")
    if imported is not None and (imported.attr("source") or "").lower() == "activedirectory":
        raise BadRequest("Active Directory groups are not supported here: only local groups.")
    return node


def _minimum_role(node: Element) -> str | None:
    imported = node.child("import")
    role = node.attr("minimumSiteRole")
    if role is None and imported is not None:
        role = imported.attr("siteRole")
    return role


def _sort(request: Request) -> tuple[tuple[str, bool], ...]:
    raw = request.query_params.get("sort")
    if not raw:
        return (("name", False),)
    keys = []
    for term in raw.split(","):
        field, _, direction = term.partition(":")
        if field not in _SORTS or direction not in ("asc", "desc"):
            raise InvalidParameter(
                f"sort '{raw[:80]}' must be fields of {sorted(_SORTS)} with :asc or :desc."
            )
        keys.append((field, direction == "desc"))
    return tuple(keys)


def _query(request: Request) -> GroupQuery:
    page = page_of(request)
    terms = filters_of(request, _FILTERS)
    names = terms.get("name")
    count = terms.get("userCount")
    user_count = None
    if count is not None:
        if not count.value.isdigit():
            raise InvalidParameter(f"userCount must be a whole number, not '{count.value[:40]}'.")
        user_count = (count.operator, int(count.value))
    local = terms.get("isLocal")
    domains = terms["domainName"].values if "domainName" in terms else None
    if local is not None and local.value.lower() == "false":
        domains = ("",)  # every group here is local: none matches
    return GroupQuery(
        names=names.values if names else None,
        ids=terms["luid"].values if "luid" in terms else None,
        minimum_site_roles=(
            terms["minimumSiteRole"].values if "minimumSiteRole" in terms else None
        ),
        domain_names=domains,
        user_count=user_count,
        sort=_sort(request),
        offset=page.offset,
        limit=page.size,
    )


@router.post("/groups", status_code=201, operation_id="createGroup")
async def create_group(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    node = _group_body(await read_body(request))
    group = await groups.create(
        store, caller, name=node.attr("name") or "", minimum_site_role=_minimum_role(node)
    )
    return respond(request, group_element(group), status=201)


@router.get("/groups", operation_id="queryGroups")
async def query_groups(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    page = page_of(request)
    found, total = await groups.listing(store, caller, _query(request))
    return respond(
        request, page.element(total), listing("groups", [group_element(g) for g in found])
    )


@router.put("/groups/{group_id}", operation_id="updateGroup")
async def update_group(
    request: Request, group_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    node = _group_body(await read_body(request))
    changes = groups.GroupChanges(name=node.attr("name"), minimum_site_role=_minimum_role(node))
    return respond(request, group_element(await groups.update(store, caller, group_id, changes)))


@router.delete("/groups/{group_id}", status_code=204, operation_id="deleteGroup")
async def delete_group(group_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await groups.delete(store, caller, group_id)
    return no_content()


@router.get("/groups/{group_id}/users", operation_id="getUsersInGroup")
async def users_in_group(
    request: Request, group_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    page = page_of(request)
    found, total = await groups.members(
        store, caller, group_id, offset=page.offset, limit=page.size
    )
    return respond(
        request, page.element(total), listing("users", [member_element(u) for u in found])
    )


def _user_ids(body: Element) -> tuple[list[str], bool]:
    """The ids of ``<user id/>`` (one user) or ``<users><user id/>...</users>`` (several)."""
    several = body.child("users")
    if several is not None:
        return [u.attr("id") or "" for u in several.all("user")], False
    one = body.child("user")
    if one is None or not one.attr("id"):
        raise BadRequest("The request must contain <user id=...> or <users><user id=.../></users>.")
    return [one.attr("id") or ""], True


@router.post("/groups/{group_id}/users", operation_id="addUserToGroup")
async def add_user_to_group(
    request: Request, group_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    user_ids, one = _user_ids(await read_body(request))
    if any(not u for u in user_ids):
        raise BadRequest("Every <user> must have an id.")
    added = await groups.add_users(store, caller, group_id, user_ids, one=one)
    if one:
        return respond(request, member_element(added[0]))
    return respond(request, listing("users", [member_element(u) for u in added]))


@router.delete(
    "/groups/{group_id}/users/{user_id}", status_code=204, operation_id="removeUserFromGroup"
)
async def remove_user_from_group(
    group_id: str, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    await groups.remove_users(store, caller, group_id, [user_id])
    return no_content()


@router.put("/groups/{group_id}/users/remove", status_code=204, operation_id="removeUsersFromGroup")
async def remove_users_from_group(
    request: Request, group_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    user_ids, _ = _user_ids(await read_body(request))
    if any(not u for u in user_ids):
        raise BadRequest("Every <user> must have an id.")
    await groups.remove_users(store, caller, group_id, user_ids)
    return no_content()


@router.get("/users/{user_id}/groups", operation_id="getGroupsForUser")
async def groups_for_user(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    page = page_of(request)
    found, total = await groups.groups_of(
        store, caller, user_id, offset=page.offset, limit=page.size
    )
    return respond(
        request, page.element(total), listing("groups", [group_element(g) for g in found])
    )
