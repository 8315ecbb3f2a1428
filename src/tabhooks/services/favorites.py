"""Favorite use cases: add, delete and get a user's favorites on the caller's site.

Favorites are personal: users manage their own, and site administrators anyone's on their
site (as in Tableau). Marking something as a favorite changes nothing about the item, so no
event fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import (
    BadRequest,
    FavoriteNotFound,
    Forbidden,
    ProjectNotFound,
    UserNotFound,
    ViewNotFound,
)
from tabhooks.models import Content, ContentKind, Project, View
from tabhooks.services import contents as contents_service
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import favorites as favorites_store
from tabhooks.store import projects as projects_store
from tabhooks.store import users as users_store

#: Longest favorite label (the column's size).
MAX_LABEL_CHARS = 255


class FavoriteKind(StrEnum):
    """What can be a favorite, by the element Tableau names it with."""

    #: A workbook.
    WORKBOOK = "workbook"
    #: A view.
    VIEW = "view"
    #: A published data source.
    DATASOURCE = "datasource"
    #: A project.
    PROJECT = "project"
    #: A Prep flow.
    FLOW = "flow"

    @property
    def column(self) -> str:
        """The ``favorites`` column that names an item of this kind."""
        if self is FavoriteKind.VIEW:
            return "view_id"
        if self is FavoriteKind.PROJECT:
            return "project_id"
        return "content_id"


@dataclass(frozen=True, slots=True)
class Marked:
    """One favorite as Get Favorites shows it: its label and the item itself."""

    label: str
    kind: FavoriteKind
    item: Content | View | Project


async def _user(conn: AsyncConnection, principal: Principal, user_id: str) -> None:
    """Check the user is on the site and the caller may manage their favorites."""
    if user_id != principal.user.id and not principal.user.is_site_admin:
        raise Forbidden("Users see and change only their own favorites.")
    if await users_store.get_on_site(conn, principal.site.id, user_id) is None:
        raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")


async def _item(
    conn: AsyncConnection, site_id: str, kind: FavoriteKind, item_id: str
) -> Content | View | Project:
    if kind is FavoriteKind.VIEW:
        view = await contents_store.get_view(conn, site_id, item_id)
        if view is None:
            raise ViewNotFound(f"No view with id '{item_id}' exists on this site.")
        return view
    if kind is FavoriteKind.PROJECT:
        project = await projects_store.get(conn, site_id, item_id)
        if project is None:
            raise ProjectNotFound(f"No project with id '{item_id}' exists on this site.")
        return project
    return await contents_service.require(conn, site_id, ContentKind(kind.value), item_id)


def _kind_of(item: Content | View | Project) -> FavoriteKind:
    if isinstance(item, View):
        return FavoriteKind.VIEW
    if isinstance(item, Project):
        return FavoriteKind.PROJECT
    return FavoriteKind(item.kind.value)


async def _marked(conn: AsyncConnection, site_id: str, user_id: str) -> list[Marked]:
    found: list[Marked] = []
    for favorite in await favorites_store.of_user(conn, site_id, user_id):
        item: Content | View | Project | None
        if favorite.column == "view_id":
            item = await contents_store.get_view(conn, site_id, favorite.item_id)
        elif favorite.column == "project_id":
            item = await projects_store.get(conn, site_id, favorite.item_id)
        else:
            item = await contents_store.get_any(conn, site_id, favorite.item_id)
        if item is not None:
            found.append(Marked(favorite.label, _kind_of(item), item))
    return found


async def add(
    store: Store,
    principal: Principal,
    user_id: str,
    kind: FavoriteKind,
    item_id: str,
    label: str | None,
) -> list[Marked]:
    """Add Workbook / View / Data Source / Project / Flow to Favorites: the favorites after.

    Without a label the item's name is used. The same item twice is ``409000``.
    """
    site_id = principal.site.id
    async with store.write() as conn:
        await _user(conn, principal, user_id)
        item = await _item(conn, site_id, kind, item_id)
        name = (label or "").strip() or item.name
        if len(name) > MAX_LABEL_CHARS:
            raise BadRequest(f"A favorite's label holds at most {MAX_LABEL_CHARS} characters.")
        await favorites_store.add(conn, site_id, user_id, name, kind.column, item_id)
        return await _marked(conn, site_id, user_id)


async def delete(
    store: Store, principal: Principal, user_id: str, kind: FavoriteKind, item_id: str
) -> None:
    """Delete Workbook / View / ... from Favorites (``404003`` if it is not one)."""
    site_id = principal.site.id
    async with store.write() as conn:
        await _user(conn, principal, user_id)
        item = await _item(conn, site_id, kind, item_id)
        if not await favorites_store.remove(conn, site_id, user_id, kind.column, item_id):
            raise FavoriteNotFound(f"'{item.name}' is not among the user's favorites.")


async def get(store: Store, principal: Principal, user_id: str) -> list[Marked]:
    """Get Favorites for User: every favorite on this site, oldest first."""
    async with store.read() as conn:
        await _user(conn, principal, user_id)
        return await _marked(conn, principal.site.id, user_id)
