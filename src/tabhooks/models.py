"""Domain records shared by every layer: frozen, slotted, built from store rows.

They carry no behaviour beyond what can be derived from their fields, so the API layer can
render them and the services can reason about them without touching the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Self, TypeAlias


class SiteRole(StrEnum):
    """Tableau's site roles (the values TSC accepts in ``siteRole``)."""

    #: Server administrator; reported on every site.
    SERVER_ADMINISTRATOR = "ServerAdministrator"
    #: Site administrator with a Creator licence.
    SITE_ADMINISTRATOR_CREATOR = "SiteAdministratorCreator"
    #: Site administrator with an Explorer licence.
    SITE_ADMINISTRATOR_EXPLORER = "SiteAdministratorExplorer"
    #: Legacy site administrator role (pre-2018.1).
    SITE_ADMINISTRATOR = "SiteAdministrator"
    #: Creator.
    CREATOR = "Creator"
    #: Explorer who can publish.
    EXPLORER_CAN_PUBLISH = "ExplorerCanPublish"
    #: Explorer.
    EXPLORER = "Explorer"
    #: Viewer.
    VIEWER = "Viewer"
    #: Licensed user whose licence is not yet chosen.
    UNLICENSED = "Unlicensed"
    #: Read-only (Tableau Server).
    READ_ONLY = "ReadOnly"

    @property
    def is_site_admin(self) -> bool:
        """Whether the role may administer the site (and so manage its webhooks)."""
        return self in _ADMIN_ROLES


_ADMIN_ROLES = frozenset(
    {
        SiteRole.SERVER_ADMINISTRATOR,
        SiteRole.SITE_ADMINISTRATOR_CREATOR,
        SiteRole.SITE_ADMINISTRATOR_EXPLORER,
        SiteRole.SITE_ADMINISTRATOR,
    }
)


def _row(row: Any) -> Mapping[str, Any]:
    mapping: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
    return mapping


def _build(cls: Any, row: Any, **overrides: Any) -> Any:
    """A record from the row's columns of the same names; ``overrides`` for derived fields."""
    m = _row(row)
    values = {f.name: m[f.name] for f in fields(cls) if f.name not in overrides}
    return cls(**values, **overrides)


@dataclass(frozen=True, slots=True)
class Site:
    """A Tableau site; ``content_url`` ``""`` is the default site."""

    id: str
    name: str
    content_url: str
    state: str
    admin_mode: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return _build(cls, row)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class User:
    """A user as seen from one site: identity plus that site's role."""

    id: str
    name: str
    full_name: str | None
    email: str | None
    is_server_admin: bool
    site_role: SiteRole
    created_at: datetime
    last_login: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _row(row)
        role = SiteRole.SERVER_ADMINISTRATOR if m["is_server_admin"] else SiteRole(m["site_role"])
        return cls(
            id=m["id"],
            name=m["name"],
            full_name=m["full_name"],
            email=m["email"],
            is_server_admin=bool(m["is_server_admin"]),
            site_role=role,
            created_at=m["created_at"],
            last_login=m["last_login"],
        )

    @property
    def is_site_admin(self) -> bool:
        return self.is_server_admin or self.site_role.is_site_admin


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in REST session: who, on which site, until when."""

    token_hash: str
    user_id: str
    site_id: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return _build(cls, row)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as Tableau describes it, plus its owner's name for rendering."""

    id: str
    site_id: str
    name: str
    event: str
    url: str
    method: str
    is_enabled: bool
    status_change_reason: str
    owner_id: str | None
    owner_name: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        # Attribute access on a Row is several times cheaper than its mapping, and lists
        # build these by the thousand.
        m = _row(row) if isinstance(row, Mapping) else row
        get = m.__getitem__ if isinstance(m, Mapping) else m.__getattribute__
        owner_name = (
            m.get("owner_name") if isinstance(m, Mapping) else getattr(m, "owner_name", None)
        )
        return cls(
            get("id"),
            get("site_id"),
            get("name"),
            get("event"),
            get("url"),
            get("method"),
            bool(get("is_enabled")),
            get("status_change_reason") or "",
            get("owner_id"),
            owner_name,
            int(get("consecutive_failures") or 0),
            get("created_at"),
            get("updated_at"),
        )


#: A webhook as Get and List Webhooks send it, as a tuple of, in this order: ``id``, ``name``,
#: ``event``, ``url``, ``method``, ``is_enabled``, ``status_change_reason``, ``owner_id``,
#: ``owner_name``, ``created_at``, ``updated_at``; both timestamps already text as Tableau
#: writes them (``YYYY-MM-DDTHH:MM:SSZ``, UTC).
#:
#: A tuple type rather than a record, unlike :class:`Webhook`: List Webhooks reads thousands
#: per request, and the store hands over its SQLAlchemy rows as they are (a ``Row`` is a
#: tuple to the type checker and unpacks like one). A frozen dataclass per row, then a named
#: tuple per row, and timestamps parsed to datetimes and formatted back were each a visible
#: share of a list (docs/performance.md, "REST API"). Readers unpack it in one statement.
WebhookOut: TypeAlias = tuple[
    str, str, str, str, str, bool, str, str | None, str | None, str, str
]  # fmt: skip


class ContentKind(StrEnum):
    """What a row of ``contents`` is."""

    #: A workbook (.twb/.twbx), with views.
    WORKBOOK = "workbook"
    #: A published data source (.tds/.tdsx/.hyper/...).
    DATASOURCE = "datasource"
    #: A Tableau Prep flow (.tfl/.tflx).
    FLOW = "flow"


@dataclass(frozen=True, slots=True)
class Project:
    """A project: the folder content is published into."""

    id: str
    site_id: str
    name: str
    description: str
    parent_id: str | None
    content_permissions: str
    owner_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return _build(cls, row, description=_row(row)["description"] or "")  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Content:
    """A published workbook, data source or flow, with its project's and owner's names."""

    id: str
    site_id: str
    kind: ContentKind
    name: str
    content_url: str
    description: str
    project_id: str
    project_name: str
    owner_id: str | None
    owner_name: str | None
    show_tabs: bool
    type: str
    file_name: str
    file_type: str
    size: int
    has_extracts: bool
    created_at: datetime
    updated_at: datetime
    #: Data sources: certified (Update Data Source ``isCertified``), and the note saying why.
    is_certified: bool = False
    certification_note: str | None = None
    #: Its tags, in label order (loaded with listings and gets; empty when not loaded).
    tags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _row(row)
        return cls(
            is_certified=bool(m.get("is_certified")),
            certification_note=m.get("certification_note"),
            id=m["id"],
            site_id=m["site_id"],
            kind=ContentKind(m["kind"]),
            name=m["name"],
            content_url=m["content_url"],
            description=m["description"] or "",
            project_id=m["project_id"],
            project_name=m.get("project_name") or "",
            owner_id=m["owner_id"],
            owner_name=m.get("owner_name"),
            show_tabs=bool(m["show_tabs"]),
            type=m["type"] or "",
            file_name=m["file_name"],
            file_type=m["file_type"],
            size=int(m["size"] or 0),
            has_extracts=bool(m["has_extracts"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class View:
    """A sheet or dashboard of a workbook."""

    id: str
    site_id: str
    workbook_id: str
    name: str
    content_url: str
    sheet_type: str
    created_at: datetime
    updated_at: datetime
    #: Its workbook's owner and project (Tableau lists them on every view), when loaded.
    owner_id: str | None = None
    project_id: str | None = None
    #: Its tags, in label order (empty when not loaded).
    tags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _row(row)
        loaded = {"owner_id": m.get("owner_id"), "project_id": m.get("project_id"), "tags": ()}
        return _build(cls, row, **loaded)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Connection:
    """A data connection of a workbook or data source, with its embedded credentials."""

    id: str
    content_id: str
    type: str
    server_address: str
    server_port: str
    dbname: str
    filename: str
    username: str
    password: str
    embed_password: bool
    query_tagging: bool

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = _row(row)
        return cls(
            id=m["id"],
            content_id=m["content_id"],
            type=m["type"],
            server_address=m["server_address"] or "",
            server_port=m["server_port"] or "",
            dbname=m["dbname"] or "",
            filename=m["filename"] or "",
            username=m["username"] or "",
            password=m["password"] or "",
            embed_password=bool(m["embed_password"]),
            query_tagging=bool(m["query_tagging"]),
        )
