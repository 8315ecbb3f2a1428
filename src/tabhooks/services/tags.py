"""Tag use cases: add and delete tags of workbooks, data sources, flows and views, one item at a
time or in a batch.

Tagging changes what an item is labelled with, not the item: like Tableau, tabhooks fires no
event for it and leaves ``updatedAt`` alone. Tagging needs ``Write`` on the item, as every other
change to content does (owners, project leaders and administrators hold it; a view's is its
workbook's unless the view has rules of its own); an item the caller cannot Read is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import BadRequest, TagNotFound, ViewNotFound
from tabhooks.models import ContentKind
from tabhooks.services import contents as contents_service
from tabhooks.services import permissions
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import tags as tags_store

#: Longest tag label (the column's size).
MAX_LABEL_CHARS = 255


class Taggable(StrEnum):
    """What carries tags, by the name of its URL collection's item."""

    #: A workbook.
    WORKBOOK = "workbook"
    #: A published data source.
    DATASOURCE = "datasource"
    #: A Prep flow.
    FLOW = "flow"
    #: A view (sheet, dashboard or story) of a workbook.
    VIEW = "view"

    @property
    def is_view(self) -> bool:
        return self is Taggable.VIEW


@dataclass(frozen=True, slots=True)
class Item:
    """One item to tag: what it is and its id."""

    kind: Taggable
    id: str


def check_label(label: str) -> str:
    """A label as stored: not empty, not too long."""
    if not label.strip():
        raise BadRequest("A tag label must not be empty.")
    if len(label) > MAX_LABEL_CHARS:
        raise BadRequest(f"A tag label holds at most {MAX_LABEL_CHARS} characters.")
    return label


async def _changeable(conn: AsyncConnection, principal: Principal, item: Item) -> str:
    """Check the caller may tag the item; the id of the site it is on."""
    site_id = principal.site.id
    if item.kind.is_view:
        view = await contents_store.get_view(conn, site_id, item.id)
        if view is None:
            raise ViewNotFound(f"No view with id '{item.id}' exists on this site.")
        await permissions.require_on_view(
            conn, principal, view, permissions.WRITE, doing="change the tags of"
        )
        return site_id
    content = await contents_service.require(conn, site_id, ContentKind(item.kind.value), item.id)
    await contents_service.require_write(conn, principal, content, "change the tags of")
    return site_id


async def _labels(conn: AsyncConnection, item: Item) -> tuple[str, ...]:
    found = await tags_store.labels_of(conn, [item.id], view=item.kind.is_view)
    return found.get(item.id, ())


async def add(store: Store, principal: Principal, item: Item, labels: list[str]) -> tuple[str, ...]:
    """Add Tags to Workbook / Data Source / Flow / View: the item's tags afterwards."""
    if not labels:
        raise BadRequest("The request must name at least one <tag label=...>.")
    wanted = [check_label(label) for label in labels]
    async with store.write() as conn:
        site_id = await _changeable(conn, principal, item)
        await tags_store.add(conn, site_id, item.id, wanted, view=item.kind.is_view)
        return await _labels(conn, item)


async def delete(store: Store, principal: Principal, item: Item, label: str) -> None:
    """Delete Tag from Workbook / Data Source / Flow / View (``404008`` if it has no such tag)."""
    async with store.write() as conn:
        await _changeable(conn, principal, item)
        if not await tags_store.remove(conn, item.id, label, view=item.kind.is_view):
            raise TagNotFound(f"The {item.kind.value} '{item.id}' has no tag '{label[:255]}'.")


#: Most items one batch may tag.
MAX_BATCH_ITEMS = 1000


async def batch(
    store: Store, principal: Principal, items: list[Item], labels: list[str], *, add: bool
) -> tuple[str, ...]:
    """Batch Add / Batch Delete Tags: every label on (or off) every item, all or nothing.

    Returns the labels sent, as Tableau's answer lists them.
    """
    if not labels or not items:
        raise BadRequest("A tag batch needs at least one <tag label=...> and one <content>.")
    if len(items) > MAX_BATCH_ITEMS:
        raise BadRequest(f"A tag batch holds at most {MAX_BATCH_ITEMS} items.")
    wanted = [check_label(label) for label in labels]
    async with store.write() as conn:
        for item in items:
            site_id = await _changeable(conn, principal, item)
            if add:
                await tags_store.add(conn, site_id, item.id, wanted, view=item.kind.is_view)
            else:
                for label in wanted:
                    await tags_store.remove(conn, item.id, label, view=item.kind.is_view)
    return tuple(dict.fromkeys(wanted))
