"""Data quality warnings on workbooks and data sources, each change firing its Label* event.

Tableau models data quality warnings as labels and fires ``LabelCreated``/``LabelUpdated``/
``LabelDeleted`` for them, with the ``resource`` of the labelled content. The payload names the
*content* (``resource_luid`` is the workbook's or data source's id, ``resource_name`` its name),
not the warning: a receiver can look content up through the REST API by that id, while a
warning id alone leads nowhere once the warning is deleted. One change that touches several
warnings (update or delete by content) fires one event per warning, all in the same
transaction as the change.

Warnings deleted together with their content (content delete, project delete) fire nothing of
their own: the content's ``*Deleted`` event already says everything they could.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks import events
from tabhooks.errors import BadRequest, LabelNotFound
from tabhooks.models import Content, ContentKind
from tabhooks.services import contents as contents_service
from tabhooks.services import permissions
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import labels as labels_store
from tabhooks.store.labels import Label

#: Tableau's data quality warning types (``DQWItem.WarningType`` in TSC).
WARNING_TYPES = ("WARNING", "DEPRECATED", "STALE", "SENSITIVE_DATA", "MAINTENANCE")

#: The ``contentType`` path segments served; Tableau also labels databases, tables, flows and
#: virtual connections, which tabhooks does not hold (or, for flows, fires no events about).
_CONTENT_TYPES = {"datasource": ContentKind.DATASOURCE, "workbook": ContentKind.WORKBOOK}

_RESOURCE = {
    ContentKind.DATASOURCE: events.Resource.DATASOURCE,
    ContentKind.WORKBOOK: events.Resource.WORKBOOK,
}


def content_kind(content_type: str) -> ContentKind:
    """The kind named by the ``{contentType}`` path segment (any case), else a 400."""
    kind = _CONTENT_TYPES.get(content_type.lower())
    if kind is None:
        raise BadRequest(
            f"Data quality warnings can be managed on {' and '.join(_CONTENT_TYPES)} content "
            f"here, not on '{content_type}'."
        )
    return kind


@dataclass(frozen=True, slots=True)
class WarningFields:
    """The fields of an Add or Update request; ``None`` means "not given" (unchanged)."""

    type: str | None = None
    message: str | None = None
    is_active: bool | None = None
    is_severe: bool | None = None

    def checked_type(self) -> str | None:
        """``type`` upper-cased and checked against :data:`WARNING_TYPES`."""
        if self.type is None:
            return None
        value = self.type.strip().upper()
        if value not in WARNING_TYPES:
            raise BadRequest(
                f"type '{self.type}' is not a data quality warning type; "
                f"use one of {', '.join(WARNING_TYPES)}."
            )
        return value


async def _emit(conn: AsyncConnection, event_name: str, content: Content) -> None:
    await emit(
        conn,
        event_name,
        site_id=content.site_id,
        resource_luid=content.id,
        resource_name=content.name,
        resource=_RESOURCE[content.kind],
    )


async def _require_label(conn: AsyncConnection, site_id: str, label_id: str) -> Label:
    label = await labels_store.get(conn, site_id, label_id)
    if label is None:
        raise LabelNotFound(f"No data quality warning with id '{label_id}' exists on this site.")
    return label


async def _changeable(
    conn: AsyncConnection, principal: Principal, label_id: str
) -> tuple[Label, Content]:
    """The warning and its content, once the caller is known to be allowed to change them."""
    label = await _require_label(conn, principal.site.id, label_id)
    content = await contents_service.require(
        conn, principal.site.id, label.content_kind, label.content_id
    )
    await contents_service.require_write(
        conn, principal, content, "change the data quality warnings of"
    )
    return label, content


async def add(
    store: Store, principal: Principal, kind: ContentKind, content_id: str, fields: WarningFields
) -> Label:
    """Add a warning to content; fires ``LabelCreated``."""
    warning_type = fields.checked_type()
    if warning_type is None:
        raise BadRequest(
            f"<dataQualityWarning type=...> is required; use one of {', '.join(WARNING_TYPES)}."
        )
    site_id = principal.site.id
    async with store.write() as conn:
        content = await contents_service.require(conn, site_id, kind, content_id)
        await contents_service.require_write(
            conn, principal, content, "change the data quality warnings of"
        )
        label_id = await labels_store.create(
            conn,
            labels_store.NewLabel(
                site_id=site_id,
                content_id=content.id,
                type=warning_type,
                message=fields.message or "",
                is_active=True if fields.is_active is None else fields.is_active,
                is_severe=bool(fields.is_severe),
                owner_id=principal.user.id,
            ),
        )
        await _emit(conn, "LabelCreated", content)
        return await _require_label(conn, site_id, label_id)


async def of_content(
    store: Store, principal: Principal, kind: ContentKind, content_id: str
) -> list[Label]:
    """Every warning on the content: anyone who may Read it, as in Tableau (else its 404)."""
    async with store.read() as conn:
        content = await contents_service.require(conn, principal.site.id, kind, content_id)
        await permissions.require_readable(conn, principal, content)
        return await labels_store.of_content(conn, content.id)


async def get(store: Store, principal: Principal, label_id: str) -> Label:
    async with store.read() as conn:
        return await _require_label(conn, principal.site.id, label_id)


def _changes(principal: Principal, fields: WarningFields) -> dict[str, object]:
    values: dict[str, object] = {"owner_id": principal.user.id}
    warning_type = fields.checked_type()
    if warning_type is not None:
        values["type"] = warning_type
    if fields.message is not None:
        values["message"] = fields.message
    if fields.is_active is not None:
        values["is_active"] = fields.is_active
    if fields.is_severe is not None:
        values["is_severe"] = fields.is_severe
    return values


async def update(store: Store, principal: Principal, label_id: str, fields: WarningFields) -> Label:
    """Tableau's documented Update Data Quality Warning (by warning id); fires ``LabelUpdated``."""
    values = _changes(principal, fields)
    site_id = principal.site.id
    async with store.write() as conn:
        label, content = await _changeable(conn, principal, label_id)
        await labels_store.change(conn, [label.id], **values)
        await _emit(conn, "LabelUpdated", content)
        return await _require_label(conn, site_id, label_id)


async def update_content(
    store: Store, principal: Principal, kind: ContentKind, content_id: str, fields: WarningFields
) -> list[Label]:
    """Update every warning on the content: what TSC 0.42's ``update_dqw`` asks for (it PUTs
    to the content's URL). Fires one ``LabelUpdated`` per warning; none on the content is 404057.
    """
    values = _changes(principal, fields)
    site_id = principal.site.id
    async with store.write() as conn:
        content = await contents_service.require(conn, site_id, kind, content_id)
        await contents_service.require_write(
            conn, principal, content, "change the data quality warnings of"
        )
        found = await labels_store.of_content(conn, content.id)
        if not found:
            raise LabelNotFound(f"The {kind.value} '{content.name}' has no data quality warning.")
        await labels_store.change(conn, [label.id for label in found], **values)
        for _ in found:
            await _emit(conn, "LabelUpdated", content)
        return await labels_store.of_content(conn, content.id)


async def delete(store: Store, principal: Principal, label_id: str) -> None:
    """Delete one warning; fires ``LabelDeleted``."""
    async with store.write() as conn:
        label, content = await _changeable(conn, principal, label_id)
        await labels_store.remove(conn, [label.id])
        await _emit(conn, "LabelDeleted", content)


async def delete_content(
    store: Store, principal: Principal, kind: ContentKind, content_id: str
) -> int:
    """Delete every warning on the content, one ``LabelDeleted`` each; returns how many.

    Content without warnings is not an error: clearing is idempotent, as TSC's
    ``delete_dqw`` (which calls it "clear") expects.
    """
    site_id = principal.site.id
    async with store.write() as conn:
        content = await contents_service.require(conn, site_id, kind, content_id)
        await contents_service.require_write(
            conn, principal, content, "change the data quality warnings of"
        )
        found = await labels_store.of_content(conn, content.id)
        await labels_store.remove(conn, [label.id for label in found])
        for _ in found:
            await _emit(conn, "LabelDeleted", content)
    return len(found)
