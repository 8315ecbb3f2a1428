"""Every knob tabhooks has, read from ``TABHOOKS_*`` environment variables.

One :class:`Settings` object is built by the entry command and passed down explicitly; no
module reads the environment on its own, so tests can run several servers with different
settings in one process.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator, model_validator
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
    session_ttl_minutes: int = Field(
        240, ge=1, le=60 * 24 * 30, description="Lifetime of a sign-in token, in minutes."
    )
    max_request_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest non-upload request body accepted (413 beyond it).",
    )
    max_upload_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest multipart upload accepted in one request (Tableau's limit is 64 MB).",
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
    public_url: str | None = Field(
        None,
        description="Base URL clients use to reach this server (for Location headers and links); "
        "derived from the request when unset.",
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

    @model_validator(mode="after")
    def _check_pat_pair(self) -> Settings:
        if bool(self.admin_pat_name) != bool(self.admin_pat_secret):
            raise ValueError(
                "TABHOOKS_ADMIN_PAT_NAME and TABHOOKS_ADMIN_PAT_SECRET must be set together"
            )
        return self

    @property
    def http_destinations_allowed(self) -> bool:
        return self.dev or self.allow_http_destinations

    @property
    def private_destinations_allowed(self) -> bool:
        return self.dev or self.allow_private_destinations
