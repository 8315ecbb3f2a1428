"""The one SQLAlchemy Core metadata for SQLite and PostgreSQL.

Alembic migrations under ``migrations/`` must produce exactly this schema; a test compares
them. Times are stored as naive UTC and handed back timezone-aware.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from tabhooks.clock import utcnow as utcnow
from tabhooks.clock import utcnow_precise as utcnow_precise
from tabhooks.store.crypto import SealedText

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (microseconds kept) and returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the text SQLAlchemy's ``DateTime`` would store, written in one C call.

        Deliveries bind several timestamps per row, and the generic path (this decorator's
        conversion, then ``DateTime``'s ``%``-formatting of each field) was a tenth of the cost
        of emitting an event. The text is the same, byte for byte: ``isoformat`` with a space
        and six fractional digits is ``DateTime``'s SQLite storage format.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=512)
def _sqlite_text(value: datetime | None) -> str | None:
    """``value`` as SQLite stores it: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``.

    Cached: many rows written together carry equal timestamps (events emitted in the same
    second, a transaction's ``now``), and a hit costs a twentieth of a conversion. Equal
    datetimes give equal text (an aware value's text depends only on the instant, and a naive
    one never equals an aware one), so keying by value is sound.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"a timestamp must be a datetime, not {type(value).__name__}")
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # Aware values end in "+00:00", which the slice drops; naive ones are UTC already.
    return value.isoformat(" ", "microseconds")[:26]


def _id(name: str = "id", **kw: Any) -> Column[str]:
    return Column(name, String(36), **kw)


sites = Table(
    "sites",
    metadata,
    _id(primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("content_url", String(255), nullable=False, unique=True),
    Column("state", String(16), nullable=False, default="Active"),
    Column("admin_mode", String(32), nullable=False, default="ContentAndUsers"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(primary_key=True),
    Column("name", String(255), nullable=False),
    # Tableau user names are case-insensitive (tabcmd lower-cases them before sending).
    Column("name_key", String(255), nullable=False, unique=True),
    Column("full_name", String(255)),
    Column("email", String(255)),
    Column("password_hash", Text),
    Column("is_server_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login", UTCDateTime()),
)

site_users = Table(
    "site_users",
    metadata,
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_role", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Per site, as Tableau keeps it: a site's admins never learn when a user signed in elsewhere.
    Column("last_login", UTCDateTime()),
    Index(None, "user_id"),
)

personal_access_tokens = Table(
    "personal_access_tokens",
    metadata,
    _id(primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),
    UniqueConstraint("user_id", "name"),
    Index(None, "name"),
)

sessions = Table(
    "sessions",
    metadata,
    # SHA-256 of the token: a stolen database does not hand out live sessions.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    # The personal access token signed in with (None for a password): revoking it ends these.
    Column(
        "pat_id",
        String(36),
        ForeignKey("personal_access_tokens.id", ondelete="CASCADE"),
        index=True,
    ),
    Index(None, "expires_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    # The friendly event name (events.CATALOG); both spellings are rendered from it.
    Column("event", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False, default="POST"),
    Column("is_enabled", Boolean, nullable=False, default=True),
    Column("status_change_reason", Text, nullable=False, default=""),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    # Exhausted deliveries in a row; auto-disable compares it with the configured threshold.
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("site_id", "name"),
    Index(None, "site_id", "event", "is_enabled"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    _id(primary_key=True),
    Column("webhook_id", String(36), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    # Standard Webhooks `whsec_...`, sealed (tabhooks.store.crypto): an HMAC key must be
    # opened to sign, so it is encrypted rather than hashed.
    Column("secret", SealedText(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # NULL for the current secret; a rotated-out secret keeps signing until then.
    Column("expires_at", UTCDateTime()),
    Index(None, "webhook_id"),
)

events = Table(
    "events",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("resource", String(16), nullable=False),
    Column("resource_name", Text, nullable=False),
    Column("resource_luid", String(64), nullable=False),
    # The exact bytes every delivery of this event sends, on every retry.
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "site_id", "created_at"),
    # A content page lists the events about one item (store.health.events_of).
    Index(None, "resource_luid", "created_at"),
)

# ----------------------------------------------------------------------------- relay

relay_routes = Table(
    "relay_routes",
    metadata,
    # Unguessable (``rly_`` + 128 random bits): the inbound URL is a capability.
    Column("id", String(40), primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    # JSON list of friendly event names; empty means every event.
    Column("events", Text, nullable=False),
    Column("resource_glob", String(255), nullable=False, default=""),
    Column("site_filter", String(64), nullable=False, default=""),
    # SHA-256 of the shared secret the caller must send; NULL when none is required.
    Column("secret_hash", String(64)),
    Column("secret_header", String(64), nullable=False, default="X-Tabhooks-Relay-Secret"),
    Column("enrich", Boolean, nullable=False, default=False),
    # Standard Webhooks `whsec_...` that signs the route's http targets; NULL signs nothing.
    # Sealed for the same reason as webhook_secrets.secret: an HMAC key signs.
    Column("signing_secret", SealedText()),
    # Where enrichment looks resources up: a `tabhooks login` profile by name, or a server
    # and a PAT (sealed, not hashed: the server signs in unattended; never shown by the API).
    # Neither set: this server's own store.
    Column("enrich_profile", String(64)),
    Column("enrich_server", Text),
    Column("enrich_site", String(255)),
    Column("enrich_pat_name", String(255)),
    Column("enrich_pat_secret", SealedText()),
    Column("created_by", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("site_id", "name"),
)

relay_targets = Table(
    "relay_targets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "route_id", String(40), ForeignKey("relay_routes.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    # slack, teams, ifttt or http.
    Column("type", String(16), nullable=False),
    # Sealed: a Slack, Teams or IFTTT URL is itself the credential that posts.
    Column("url", SealedText(), nullable=False),
    Column("method", String(8), nullable=False, default="POST"),
    # JSON object of extra request headers, sealed: they often carry an Authorization.
    Column("headers", SealedText(), nullable=False, default="{}"),
    # Jinja2 source of the body (http targets; optional text override for the others).
    Column("template", Text),
    Index(None, "route_id"),
)

#: The statuses of a queued delivery, in the order every query writes them: a partial index
#: is used only by a query whose condition repeats the index's own, literally.
QUEUED_STATUSES = ("pending", "delivering")
_QUEUED_SQL = text("status IN ('pending', 'delivering')")
#: Keyword arguments that make an :class:`Index` cover queued deliveries only.
QUEUED_ONLY: dict[str, Any] = {"sqlite_where": _QUEUED_SQL, "postgresql_where": _QUEUED_SQL}
_RELAY_SQL = text("relay_target_id IS NOT NULL")
#: The same for relay deliveries (the only ones with a relay target).
RELAY_ONLY: dict[str, Any] = {"sqlite_where": _RELAY_SQL, "postgresql_where": _RELAY_SQL}

deliveries = Table(
    "deliveries",
    metadata,
    # Time-ordered, so id order is creation order; sent as the `webhook-id` header.
    Column("id", String(40), primary_key=True),
    Column("event_id", String(36), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    # Exactly one of webhook_id and relay_target_id is set.
    Column("webhook_id", String(36), ForeignKey("webhooks.id", ondelete="CASCADE")),
    Column("relay_target_id", String(40), ForeignKey("relay_targets.id", ondelete="CASCADE")),
    # The rendered request body of a relay delivery; NULL sends the event's payload.
    Column("body", Text),
    Column("site_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # Attempts made before the last manual redelivery: the retry schedule restarts there.
    Column("schedule_base", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime()),
    Column("lease_expires_at", UTCDateTime()),
    Column("leased_by", String(40)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime()),
    # Where it goes (scheme, host and port: tabhooks.store.deliveries.destination_of), so a
    # dispatcher can claim one destination's rows, or skip those of a destination whose line
    # is full, without reading the URL. NULL until first claimed for rows written before it.
    Column("destination", Text),
    # Only queued rows, by when they are due: claims read these two in order and stop at
    # their limit, however much history the table holds (see tabhooks.store.deliveries).
    Index(None, "next_attempt_at", "destination", **QUEUED_ONLY),
    Index(None, "destination", "next_attempt_at", **QUEUED_ONLY),
    Index(None, "webhook_id", "created_at"),
    # Relay deliveries only: a webhook delivery's NULL would cost an index insert for nothing.
    Index(None, "relay_target_id", **RELAY_ONLY),
    Index(None, "site_id", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "delivery_id", String(40), ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", Integer),
    Column("error", String(32)),
    Column("detail", Text),
    Column("response_headers", Text),
    Column("response_body", LargeBinary),
    Index(None, "delivery_id", "number"),
    # The dashboard's charts and /metrics read recent attempts by time.
    Index(None, "started_at"),
)


projects = Table(
    "projects",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("parent_id", String(36), ForeignKey("projects.id", ondelete="CASCADE")),
    Column("content_permissions", String(32), nullable=False, default="ManagedByOwner"),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "site_id", "name"),
)

# Workbooks, data sources and flows share one table: they are published, listed, owned,
# refreshed and labelled the same way; `kind` tells them apart.
contents = Table(
    "contents",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_url", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("project_id", String(36), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("show_tabs", Boolean, nullable=False, default=False),
    # Data source type as Tableau reports it (postgres, sqlite, textscan, hyper, ...).
    Column("type", String(64), nullable=False, default=""),
    Column("file_name", String(255), nullable=False),
    Column("file_type", String(8), nullable=False),
    Column("size", Integer, nullable=False, default=0),
    Column("has_extracts", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Data sources only (Update Data Source isCertified / certificationNote).
    Column("is_certified", Boolean, nullable=False, server_default="0"),
    Column("certification_note", Text),
    UniqueConstraint("site_id", "kind", "project_id", "name"),
    UniqueConstraint("site_id", "kind", "content_url"),
    Index(None, "site_id", "kind", "name"),
)

# The published file, apart from `contents` so listings never read megabytes.
content_files = Table(
    "content_files",
    metadata,
    Column(
        "content_id",
        String(36),
        ForeignKey("contents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("data", LargeBinary, nullable=False),
)

views = Table(
    "views",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column(
        "workbook_id", String(36), ForeignKey("contents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(255), nullable=False),
    Column("content_url", String(512), nullable=False),
    Column("sheet_type", String(16), nullable=False, default="worksheet"),
    # Where the sheet stands in the workbook file: Tableau lists a workbook's views in that order.
    Column("position", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "workbook_id"),
    Index(None, "site_id"),
)

connections = Table(
    "connections",
    metadata,
    _id(primary_key=True),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE"), nullable=False),
    # Tableau's connection class: postgres, sqlite, textscan, hyper, excel-direct, ...
    Column("type", String(64), nullable=False),
    Column("server_address", String(255), nullable=False, default=""),
    Column("server_port", String(16), nullable=False, default=""),
    Column("dbname", String(255), nullable=False, default=""),
    Column("filename", Text, nullable=False, default=""),
    Column("username", String(255), nullable=False, default=""),
    # Embedded so a refresh can connect, as Tableau stores embedded credentials; sealed.
    Column("password", SealedText(), nullable=False, default=""),
    Column("embed_password", Boolean, nullable=False, default=False),
    Column("query_tagging", Boolean, nullable=False, default=False),
    Index(None, "content_id"),
)

jobs = Table(
    "jobs",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="SET NULL")),
    Column("content_kind", String(16), nullable=False),
    Column("content_name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("incremental", Boolean, nullable=False, default=False),
    Column("notes", Text),
    Column("finish_code", Integer),
    Column("lease_expires_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The claim holding the lease (a fencing token): renewals and the outcome are written
    # only while it is still this job's, so a runner that lost the job cannot finish it.
    Column("lease_token", String(36)),
    # Who queued it: they (or an administrator) may cancel it.
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Index(None, "status", "created_at"),
    Index(None, "site_id", "created_at"),
    Index(None, "content_id", "status"),
)

# Tags of workbooks, data sources, flows (``content_id``) and views (``view_id``): exactly one
# is set, and the tag goes with its item.
tags = Table(
    "tags",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE")),
    Column("view_id", String(36), ForeignKey("views.id", ondelete="CASCADE")),
    Column("label", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("content_id", "label"),
    UniqueConstraint("view_id", "label"),
    Index(None, "site_id", "label"),
)

# A user's favorites on one site: a workbook, data source or flow (``content_id``), a view or a
# project; exactly one is set. They go when the item goes, or the user leaves the site.
favorites = Table(
    "favorites",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("label", String(255), nullable=False),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE")),
    Column("view_id", String(36), ForeignKey("views.id", ondelete="CASCADE")),
    Column("project_id", String(36), ForeignKey("projects.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["site_id", "user_id"],
        ["site_users.site_id", "site_users.user_id"],
        ondelete="CASCADE",
    ),
    UniqueConstraint("site_id", "user_id", "content_id"),
    UniqueConstraint("site_id", "user_id", "view_id"),
    UniqueConstraint("site_id", "user_id", "project_id"),
    Index(None, "content_id"),
    Index(None, "view_id"),
    Index(None, "project_id"),
)

labels = Table(
    "labels",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE"), nullable=False),
    # Tableau's data quality warning types: WARNING, DEPRECATED, STALE, SENSITIVE_DATA, MAINTENANCE.
    Column("type", String(32), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("is_severe", Boolean, nullable=False, default=False),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "content_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Chunks of an upload session (`PUT .../fileUploads/{id}`), appended in order.
upload_chunks = Table(
    "upload_chunks",
    metadata,
    Column("upload_id", String(80), ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


# ----------------------------------------------------------------------------- inspector

inbox_bins = Table(
    "inbox_bins",
    metadata,
    # Unguessable (``bin_`` + 128 random bits): the id is the capability to post and to watch.
    Column("id", String(40), primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("created_by", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("name", String(255), nullable=False),
    # Retention: newest ``max_requests`` kept, none older than ``max_age_s``.
    Column("max_requests", Integer, nullable=False),
    Column("max_age_s", Integer, nullable=False),
    # The chosen answer.
    Column("response_status", Integer, nullable=False),
    Column("response_headers", Text, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("response_delay_ms", Integer, nullable=False),
    # Chaos: the next ``fail_remaining`` requests fail, then ``fail_percent`` % at random.
    Column("fail_remaining", Integer, nullable=False),
    Column("fail_percent", Integer, nullable=False),
    Column("fail_status", Integer, nullable=False),
    Column("never_answer", Boolean, nullable=False),
    # A Standard Webhooks `whsec_...` secret; when set, every request's signature is checked.
    # Sealed, like every signing secret.
    Column("signing_secret", SealedText()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "site_id", "created_at"),
)

inbox_requests = Table(
    "inbox_requests",
    metadata,
    # Time-ordered (``req_``), so the newest-first listing is an index scan.
    Column("id", String(40), primary_key=True),
    Column("bin_id", String(40), ForeignKey("inbox_bins.id", ondelete="CASCADE"), nullable=False),
    Column("method", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text, nullable=False),
    # JSON list of [name, value] pairs in arrival order (repeated headers kept).
    Column("headers", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    # Bytes that arrived; more than ``len(body)`` when the body was cut at the inbox limit.
    Column("body_size", Integer, nullable=False),
    Column("client_addr", String(64)),
    # The `webhook-id` header: requests sharing one are flagged as duplicates.
    Column("webhook_msg_id", String(255)),
    # What the bin answered (NULL: it never answered), and why when chaos chose it.
    Column("response_status", Integer),
    Column("note", Text),
    Column("received_at", UTCDateTime(), nullable=False),
    Index(None, "bin_id", "id"),
    Index(None, "bin_id", "received_at"),
    Index(None, "bin_id", "webhook_msg_id"),
)


# Server schedules (site_id NULL, named, listed by Query Schedules) and the schedules of Tableau
# Cloud style tasks (site_id set, no name, shown only with their task). Times of day are wall
# times in TABHOOKS_SCHEDULE_TIMEZONE; next_run_at is the UTC instant the scheduler claims.
schedules = Table(
    "schedules",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE")),
    Column("name", String(255)),
    # Extract, Flow, Subscription, ...
    Column("type", String(32), nullable=False),
    Column("frequency", String(16), nullable=False),
    Column("start_time", String(8), nullable=False),
    Column("end_time", String(8)),
    # JSON list of [occurrence, value] pairs, as <interval occurrence="value"/> carries them.
    Column("intervals", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("execution_order", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("next_run_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("name"),
    Index(None, "state", "next_run_at"),
)

# A task: one workbook, data source or flow refreshed (run) on one schedule.
tasks = Table(
    "tasks",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column(
        "schedule_id", String(36), ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False
    ),
    # extractRefresh or runFlow
    Column("type", String(16), nullable=False),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE"), nullable=False),
    Column("content_kind", String(16), nullable=False),
    # FullRefresh or IncrementalRefresh
    Column("refresh_type", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("last_run_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("schedule_id", "content_id", "type"),
    Index(None, "site_id", "created_at"),
    Index(None, "content_id"),
)

# ----------------------------------------------------------------------------- groups, permissions

# A site's groups of users. Every site has exactly one ``all_users`` group ("All Users"): every
# site user is in it without a membership row, and it cannot be deleted or renamed.
groups = Table(
    "groups",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    # Group names are unique on a site whatever their case, as Tableau's are.
    Column("name_key", String(255), nullable=False),
    # Tableau's minimumSiteRole ("grant license on sign-in"): stored and reported.
    Column("minimum_site_role", String(40)),
    Column("all_users", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("site_id", "name_key"),
)

# Members of a site's groups (never of All Users). A user leaving the site leaves its groups:
# the row hangs off the user's site membership.
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("site_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["site_id", "user_id"], ["site_users.site_id", "site_users.user_id"], ondelete="CASCADE"
    ),
    Index(None, "user_id"),
)

# One capability granted (Allow) or denied (Deny) to one user or group on one resource: a
# project, workbook, data source, flow or view (``scope`` empty), or a project's default
# permissions for the content type named by ``scope`` (workbooks, datasources, flows, ...).
# ``resource_id`` is always set; the one matching foreign key column (project, content or
# view) and grantee column (user or group) are set too, so a rule goes with what it names.
permission_rules = Table(
    "permission_rules",
    metadata,
    _id(primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    # project, workbook, datasource, flow or view
    Column("resource_type", String(16), nullable=False),
    Column("resource_id", String(36), nullable=False),
    Column("scope", String(32), nullable=False, default=""),
    # user or group
    Column("grantee_type", String(8), nullable=False),
    Column("grantee_id", String(36), nullable=False),
    Column("capability", String(40), nullable=False),
    # Allow or Deny
    Column("mode", String(8), nullable=False),
    Column("project_id", String(36), ForeignKey("projects.id", ondelete="CASCADE")),
    Column("content_id", String(36), ForeignKey("contents.id", ondelete="CASCADE")),
    Column("view_id", String(36), ForeignKey("views.id", ondelete="CASCADE")),
    Column("user_id", String(36)),
    Column("group_id", String(36), ForeignKey("groups.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(
        ["site_id", "user_id"], ["site_users.site_id", "site_users.user_id"], ondelete="CASCADE"
    ),
    UniqueConstraint(
        "resource_id",
        "scope",
        "grantee_type",
        "grantee_id",
        "capability",
        name="uq_permission_rules_grant",
    ),
    Index(None, "project_id"),
    Index(None, "content_id"),
    Index(None, "view_id"),
    Index(None, "user_id"),
    Index(None, "group_id"),
)
