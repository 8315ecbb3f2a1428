"""Every knob tabhooks has, read from ``TABHOOKS_*`` environment variables.

One :class:`Settings` object is built by the entry command and passed down explicitly; no
module reads the environment on its own, so tests can run several servers with different
settings in one process.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The newest REST API version this server speaks; advertised by serverInfo.
REST_API_VERSION = "3.28"
#: The Tableau release that matches :data:`REST_API_VERSION`.
PRODUCT_VERSION = "2026.1.0"
#: The oldest REST API version accepted in ``/api/{version}/`` (serverInfo came with 2.4).
OLDEST_API_VERSION = "2.0"


class Settings(BaseSettings):
    """tabhooks configuration. Every field maps to ``TABHOOKS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TABHOOKS_", extra="ignore")

    database_url: str = Field(
        "sqlite:///tabhooks.db",
        description="Where the store lives: sqlite:///path (default, in the working directory) "
        "or postgresql://user:pass@host/db.",
    )
    host: str = Field("127.0.0.1", description="Address `tabhooks serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `tabhooks serve` listens on.")
    dev: bool = Field(
        False,
        description="Development mode: allow http:// and loopback/private webhook destinations.",
    )
    allow_http_destinations: bool = Field(
        False, description="Allow http:// webhook destinations (https only by default)."
    )
    allow_private_destinations: bool = Field(
        False,
        description="Allow loopback, private, link-local and other internal destination addresses.",
    )
    allowed_destination_cidrs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs that destinations may resolve to even though they are "
        "internal (e.g. 10.1.0.0/16).",
    )
    file_connection_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Folders whose files a refresh may read for text (CSV) and SQLite "
        "connections, separated like PATH (':' on Linux and macOS, ';' on Windows). A "
        "connection's file is resolved (symlinks, '..') before the check, and a file elsewhere "
        "fails the refresh without saying whether it exists. Unset: the server's working folder "
        "and the system temporary folder.",
    )
    connection_allowed_cidrs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs a refresh's database connections (PostgreSQL) may "
        "reach, checked on every address the host resolves to; unset: any host, as on Tableau.",
    )
    job_concurrency: int = Field(
        8,
        ge=1,
        le=1000,
        description="Background jobs (extract refreshes, flow runs) one server or worker process "
        "runs at once.",
    )
    job_concurrency_per_site: int = Field(
        4,
        ge=1,
        description="Jobs of one site running at once, over every process sharing the store; "
        "a site's further jobs wait while other sites' jobs take the free slots, so one site's "
        "backlog cannot hold up the others. Waiting jobs are taken one per site in turn.",
    )
    job_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Seconds one job may run; past it the job fails with a note naming this "
        "setting (and a refresh fires *RefreshFailed, as any failure does).",
    )
    job_lease_s: float = Field(
        60.0,
        ge=1,
        description="Seconds a process holds a job it took unless it renews the hold, which "
        "it does every quarter of this while the job runs; a process that dies or stalls loses "
        "its jobs to the others after this long, and never records them once lost.",
    )
    schedule_timezone: str = Field(
        "UTC",
        description="The time zone (an IANA name such as Europe/Paris) in which schedules' times "
        "of day (frequencyDetails start and end) are read; nextRunAt and every other time stay "
        "UTC on the wire.",
    )
    schedule_poll_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Seconds between two looks of a process's scheduler for schedules that "
        "came due; a due run starts at most this long after its time.",
    )
    session_ttl_minutes: int = Field(
        240, ge=1, le=60 * 24 * 30, description="Lifetime of a sign-in token, in minutes."
    )
    auth_cache_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="Seconds a verified token is trusted without a database lookup. Sign-out, "
        "password and role changes, removals and revoked tokens reach every API process's cache "
        "at once (on PostgreSQL by NOTIFY); a change made beside a SQLite server by another "
        "program, within this time; 0 looks every token up.",
    )
    max_request_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body accepted on every route but the upload routes (413 "
        "beyond it), whatever its Content-Type.",
    )
    max_upload_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest body the upload routes accept in one request: publishing a "
        "workbook, data source or flow, and appending to an upload session (Tableau's limit "
        "is 64 MB).",
    )
    max_workbook_xml_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest .twb/.tds XML a publish may carry, as sent or once inflated from "
        "its .twbx/.tdsx package (413 beyond it; read in a worker thread, never held whole).",
    )
    max_workbook_elements: int = Field(
        1_000_000,
        ge=1000,
        description="Most XML elements a published workbook or data source may have (400 "
        "beyond it): bounds the time one publish may take to read.",
    )
    max_views_per_workbook: int = Field(
        1000,
        ge=1,
        description="Most views (worksheets, dashboards and stories) a published workbook may "
        "have (400 beyond it).",
    )
    upload_session_ttl_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 30,
        description="Hours an upload session (`fileUploads`) lives after it is started; an "
        "expired session is gone (404) and its chunks are deleted.",
    )
    max_upload_sessions_per_user: int = Field(
        10,
        ge=1,
        description="Upload sessions one user may have open at once (403 beyond it).",
    )
    max_upload_session_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1024,
        description="Largest file one upload session may assemble from its chunks (413 beyond it).",
    )
    max_upload_bytes_per_user: int = Field(
        2 * 1024 * 1024 * 1024,
        ge=1024,
        description="Bytes all of one user's open upload sessions may hold together (413 "
        "beyond it).",
    )
    admin_username: str = Field(
        "admin", description="Server administrator created on an empty store."
    )
    admin_password: str | None = Field(
        None,
        description="Password of the bootstrap administrator; generated and printed once if unset.",
    )
    admin_pat_name: str | None = Field(
        None, description="Name of a personal access token created for the bootstrap admin."
    )
    admin_pat_secret: str | None = Field(
        None, description="Secret of the bootstrap admin's personal access token."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet keys that seal stored secrets (webhook, relay and bin signing "
        "secrets, relay target URLs and headers, connection passwords), comma-separated, newest "
        "first: the first seals, all open. Required on PostgreSQL; on SQLite a key file is used "
        "when unset. `tabhooks admin generate-key` makes a key; see security.md for rotation.",
    )
    secret_key_file: str | None = Field(
        None,
        description="File holding the keys when TABHOOKS_SECRET_KEY is unset (same format, one "
        "or more keys, newest first). Default on SQLite: the database's path with .key (e.g. "
        "tabhooks.key), created mode 0600 on first start; on PostgreSQL it must exist.",
    )
    delivery_retry_schedule: str = Field(
        "tableau",
        description="Retry delays after a failed attempt: 'tableau' (30s,5m,30m: four tries, "
        "like Tableau's three retries), 'standard-webhooks' (10 tries over ~3 days), 'svix', "
        "'none', or a list such as '10s,1m,1h'.",
    )
    delivery_disable_after: int = Field(
        1,
        ge=0,
        description="Disable a webhook after this many exhausted deliveries in a row (Tableau: 1, "
        "i.e. four failed tries); 0 never disables.",
    )
    delivery_connect_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Seconds allowed to connect to a destination (TCP+TLS)."
    )
    delivery_timeout_s: float = Field(
        15.0, gt=0, le=120, description="Seconds allowed for one whole attempt."
    )
    relay_enrich_timeout_s: float = Field(
        5.0,
        gt=0,
        le=30,
        description="Seconds a relay route's REST lookup (sign-in, resource, owner) may take "
        "before the message goes out without it (`enrichment.error` says why).",
    )
    relay_render_timeout_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="Seconds one relay template may take to render; past it that message fails "
        "with the reason in its delivery record (templates render in worker processes, so the "
        "server keeps answering meanwhile).",
    )
    relay_render_memory_mb: int = Field(
        256,
        ge=32,
        le=65536,
        description="Memory (MB) a relay render worker may allocate beyond its start-up size "
        "(Linux: RLIMIT_AS); a template that needs more fails its message.",
    )
    relay_render_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Relay template render worker processes (started on first use); renders "
        "beyond this many wait their turn.",
    )
    relay_inbound_rate_per_s: float = Field(
        10.0,
        gt=0,
        description="Requests per second one relay route accepts at `/relay/{id}`, sustained; "
        "beyond it (and the burst) 429 with Retry-After. Counted per server process.",
    )
    relay_inbound_burst: int = Field(
        100,
        ge=1,
        description="Requests one relay route accepts at once before "
        "TABHOOKS_RELAY_INBOUND_RATE_PER_S applies.",
    )
    signin_free_failures: int = Field(
        5,
        ge=1,
        description="Failed sign-ins one user name may have from one address before each "
        "further one doubles the wait (1 s, 2 s, 4 s ...; 429 with Retry-After).",
    )
    signin_backoff_max_s: float = Field(
        300.0,
        ge=1,
        le=3600,
        description="Longest wait after failed sign-ins for one user name from one address.",
    )
    signin_failures_per_address: int = Field(
        30,
        ge=0,
        description="Failed sign-ins one address may have (any user names) per "
        "TABHOOKS_SIGNIN_FAILURE_WINDOW_S before it gets 429; 0 turns this limit off.",
    )
    signin_failures_per_name: int = Field(
        50,
        ge=0,
        description="Failed sign-ins one user name may have (from any address) per "
        "TABHOOKS_SIGNIN_FAILURE_WINDOW_S before addresses it never signed in from get 429; "
        "0 turns this limit off.",
    )
    signin_failure_window_s: float = Field(
        600.0,
        gt=0,
        description="Seconds over which the per-address and per-name failure counts refill.",
    )
    delivery_lease_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a dispatcher holds a claimed delivery before others may take it "
        "over; must exceed the attempt timeout by at least 5 s.",
    )
    delivery_overload_floor_s: float = Field(
        60.0,
        ge=0,
        description="Least delay before retrying a timeout or 429/502/503/504 (an overloaded "
        "receiver is not hammered).",
    )
    delivery_batch_size: int = Field(
        200, ge=1, le=5000, description="Deliveries claimed per round trip to the store."
    )
    delivery_concurrency: int = Field(
        512, ge=1, le=10_000, description="Attempts in flight per dispatcher process."
    )
    delivery_per_destination: int = Field(
        32,
        ge=1,
        description="Attempts in flight to one destination (scheme, host and port); more wait "
        "their turn in its line, so one slow endpoint cannot starve the others.",
    )
    delivery_poll_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often an idle dispatcher looks for due retries and expired leases.",
    )
    dispatcher_enabled: bool = Field(
        True, description="Run the delivery dispatcher inside `tabhooks serve`."
    )
    roles: Literal["all", "relay"] = Field(
        "all",
        description="What the server answers: `all`, or `relay` (only `/relay/{route-id}`, "
        "`/tabhooks/v1/health` and `/metrics`, plus the dispatcher; what `tabhooks relay "
        "serve` runs for Tableau Cloud).",
    )
    public_url: str | None = Field(
        None,
        description="Base URL clients use to reach this server (for Location headers and links); "
        "derived from the request when unset.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names (as in the Host header, without the port) the "
        "server answers besides 127.0.0.1, localhost, [::1], the host of TABHOOKS_PUBLIC_URL and "
        "the address `tabhooks serve` binds; `*.example.com` matches its subdomains, `*` any "
        "host (only behind a proxy that checks Host itself). Any other Host gets 400, so links "
        "the server hands out cannot be pointed elsewhere.",
    )

    inbox_max_requests: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Requests a new inspector bin keeps by default (each bin may choose up to "
        "10000); the oldest are dropped as new ones arrive.",
    )
    inbox_max_age_hours: float = Field(
        168.0,
        gt=0,
        le=24 * 30,
        description="Hours a new inspector bin keeps a captured request by default (each bin may "
        "choose up to 30 days).",
    )
    inbox_max_body_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Body bytes stored per captured inbox request; the rest is counted, not kept "
        "(bodies over TABHOOKS_MAX_REQUEST_BYTES are refused with 413 before capture).",
    )
    inbox_public_view: bool = Field(
        True,
        description="Anyone holding a bin's unguessable URL may watch its page (like "
        "webhook.site); false requires a dashboard sign-in on the bin's site.",
    )
    inbox_max_bins_per_user: int = Field(
        100,
        ge=1,
        description="Inspector bins one user may have created (on all sites together); "
        "creating one more is refused with 403 403181 until one is deleted.",
    )
    inbox_max_bins_per_site: int = Field(
        1000,
        ge=1,
        description="Inspector bins one site may hold; creating one more is refused with 403 "
        "403181.",
    )
    inbox_max_requests_per_user: int = Field(
        50_000,
        ge=1,
        description="Captured requests the bins one user created may keep together (the sum of "
        "their max_requests); a bin that would take the sum past it is refused (403 403181). "
        "Times TABHOOKS_INBOX_MAX_BODY_BYTES, it bounds what the user's bins may store.",
    )
    inbox_max_requests_per_site: int = Field(
        200_000,
        ge=1,
        description="Captured requests one site's bins may keep together (the sum of their "
        "max_requests); a bin that would take the sum past it is refused (403 403181).",
    )
    inbox_capture_burst: int = Field(
        200,
        ge=1,
        description="Requests one bin captures at once before TABHOOKS_INBOX_CAPTURE_RATE_PER_S "
        "applies.",
    )
    inbox_capture_rate_per_s: float = Field(
        50.0,
        gt=0,
        description="Requests per second one bin captures, sustained; beyond it (and the burst) "
        "429 with Retry-After, not captured. Counted per server process.",
    )
    inbox_captures_in_flight: int = Field(
        64,
        ge=1,
        description="Captures (all bins) whose body is being received and stored at once; more "
        "wait their turn, so a flood holds at most this many bodies in memory.",
    )
    inbox_capture_body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds a capture, once it has its place, may take to receive its body; "
        "a sender still sending after that is answered 408, so slow senders cannot keep the "
        "places of TABHOOKS_INBOX_CAPTURES_IN_FLIGHT.",
    )
    inbox_streams_per_bin: int = Field(
        10,
        ge=1,
        description="Live views (`/ui/bins/{id}/stream`) open at once on one bin; more are "
        "answered 429 with Retry-After. Counted per server process.",
    )
    inbox_streams_per_address: int = Field(
        20,
        ge=1,
        description="Live views open at once from one client address, on all bins (429 beyond).",
    )
    inbox_streams_max: int = Field(
        200,
        ge=1,
        description="Live views open at once on the whole server process (429 beyond).",
    )
    inbox_stream_send_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds a live view's client may leave one event unread before the stream "
        "is ended, so a client that never reads holds no memory or place for long.",
    )

    @field_validator("allowed_destination_cidrs", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_destination_cidrs")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a CIDR: {cidr!r}") from exc
        return value

    @field_validator("file_connection_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("connection_allowed_cidrs", mode="before")
    @classmethod
    def _split_connection_cidrs(cls, value: object) -> object:
        return cls._split_cidrs(value)

    @field_validator("connection_allowed_cidrs")
    @classmethod
    def _check_connection_cidrs(cls, value: list[str]) -> list[str]:
        return cls._check_cidrs(value)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        from tabhooks.hosts import host_pattern

        return [host_pattern(host) for host in value]

    @field_validator("schedule_timezone")
    @classmethod
    def _check_schedule_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not a time zone name: {value!r}") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
            raise ValueError(f"not an http:// or https:// base URL: {value!r}")
        return value

    @model_validator(mode="after")
    def _check_pat_pair(self) -> Settings:
        if bool(self.admin_pat_name) != bool(self.admin_pat_secret):
            raise ValueError(
                "TABHOOKS_ADMIN_PAT_NAME and TABHOOKS_ADMIN_PAT_SECRET must be set together"
            )
        return self

    @model_validator(mode="after")
    def _check_delivery(self) -> Settings:
        from tabhooks.delivery.retry import RetryPolicy

        RetryPolicy.parse(self.delivery_retry_schedule)
        if self.delivery_lease_s < self.delivery_timeout_s + 5:
            raise ValueError(
                "TABHOOKS_DELIVERY_LEASE_S must be at least TABHOOKS_DELIVERY_TIMEOUT_S + 5, so "
                "a slow attempt is never taken over and sent twice at once"
            )
        return self

    @property
    def http_destinations_allowed(self) -> bool:
        return self.dev or self.allow_http_destinations

    @property
    def private_destinations_allowed(self) -> bool:
        return self.dev or self.allow_private_destinations
