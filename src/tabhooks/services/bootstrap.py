"""First start on an empty store: the default site and the server administrator."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from tabhooks.config import Settings
from tabhooks.models import SiteRole
from tabhooks.services import passwords
from tabhooks.services import users as users_service
from tabhooks.store import Store
from tabhooks.store import projects as projects_store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store

log = logging.getLogger(__name__)

DEFAULT_SITE_NAME = "Default"


@dataclass(frozen=True, slots=True)
class BootstrapReport:
    """What bootstrap did, so the entry command can tell the operator once."""

    created_admin: bool
    admin_username: str
    #: The generated password, present only when one was generated this time.
    generated_password: str | None


async def bootstrap(store: Store, settings: Settings) -> BootstrapReport:
    """Create the default site, the admin and the admin's PAT when they are missing."""
    async with store.write() as conn:
        site = await sites_store.get_by_content_url(conn, "")
        if site is None:
            site = await sites_store.create(conn, name=DEFAULT_SITE_NAME, content_url="")
        identity = await users_store.find_identity(conn, settings.admin_username)
    generated: str | None = None
    created = identity is None
    if identity is None:
        password = settings.admin_password
        if password is None:
            password = generated = secrets.token_urlsafe(12)
        password_hash = await passwords.hash_secret(password)
        async with store.write() as conn:
            user_id = await users_store.create_identity(
                conn,
                name=settings.admin_username,
                password_hash=password_hash,
                is_server_admin=True,
            )
            await users_store.add_to_site(
                conn,
                site_id=site.id,
                user_id=user_id,
                site_role=SiteRole.SITE_ADMINISTRATOR_CREATOR,
            )
        log.info("action=bootstrap created server admin %r", settings.admin_username)
    else:
        user_id = str(identity["id"])
    async with store.write() as conn:
        await projects_store.ensure_default(conn, site.id, user_id)
    if settings.admin_pat_name and settings.admin_pat_secret:
        async with store.read() as conn:
            existing = await sessions_store.pat_of_user(conn, user_id, settings.admin_pat_name)
        if existing is None:
            await users_service.store_pat(
                store,
                user_id=user_id,
                name=settings.admin_pat_name,
                secret=settings.admin_pat_secret,
            )
    return BootstrapReport(created, settings.admin_username, generated)
