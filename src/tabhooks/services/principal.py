"""Who is calling: the authenticated user on the site their session belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from tabhooks.errors import Forbidden, WrongSite
from tabhooks.models import Session, Site, User


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in caller, resolved from an ``X-Tableau-Auth`` token."""

    session: Session
    user: User
    site: Site

    def require_site(self, site_id: str) -> None:
        """Refuse a URI naming any site but the session's own (never reveal other sites)."""
        if site_id.lower() != self.site.id.lower():
            raise WrongSite(
                f"This session is signed in to site '{self.site.id}', not '{site_id}'. "
                "Sign in to that site or call switchSite."
            )

    def require_site_admin(self) -> None:
        if not self.user.is_site_admin:
            raise Forbidden(
                f"User '{self.user.name}' has site role {self.user.site_role}; "
                "this operation needs a site or server administrator."
            )

    def require_server_admin(self) -> None:
        if not self.user.is_server_admin:
            raise Forbidden(
                f"User '{self.user.name}' is not a server administrator; this operation needs one."
            )
