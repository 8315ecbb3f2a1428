"""``/ui/content``: the site's workbooks, data sources and flows, and a page for each.

This is where REST ``webpageUrl`` values and the relay's Slack, Teams and IFTTT "Open" links
lead (:func:`tabhooks.relay.messages.content_page_url`): a content's owner, project,
connections (never their passwords), views, recent jobs and the events it fired with what
became of each delivery.

What a signed-in user sees follows the REST API: every member of the site reads content and
its connections (``services.contents``); jobs, events and deliveries are for site and server
administrators (``services.overview``), so other roles see a line saying so instead.

Links carry ``?site=`` when the content is on a site other than the default; a viewer signed
in to another site is told which site to sign in to, instead of a bare "not found".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tabhooks.api.deps import store_of
from tabhooks.errors import ResourceNotFound
from tabhooks.models import ContentKind
from tabhooks.services import contents, overview
from tabhooks.store.contents import ListQuery
from tabhooks.web import schedules
from tabhooks.web.session import Viewer, ViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui/content", include_in_schema=False)

#: URL section → content kind, and the words the pages use.
SECTIONS: dict[str, tuple[ContentKind, str, str]] = {
    "workbooks": (ContentKind.WORKBOOK, "Workbook", "Workbooks"),
    "datasources": (ContentKind.DATASOURCE, "Data source", "Data sources"),
    "flows": (ContentKind.FLOW, "Flow", "Flows"),
}
#: Rows per kind on the overview, most recently updated first.
LISTED = 100


class WrongSiteLink(ResourceNotFound):
    """The link names another site than the viewer's session."""


def _check_site(viewer: Viewer, site: str | None) -> None:
    """A link for another site gets a page that names both sites (and reveals nothing)."""
    if site is None:
        return
    mine = viewer.principal.site.content_url
    if site.lower() != mine.lower():
        here = f"'{mine}'" if mine else "the default site"
        raise WrongSiteLink(
            f"This link is for site '{site[:255]}', and you are signed in to {here}. "
            "Sign out, then sign in to that site (its content URL in the Site field)."
        )


@router.get("")
@router.get("/")
async def content_page(request: Request, viewer: ViewerDep) -> Response:
    store = store_of(request)
    query = ListQuery(sort="updatedAt", descending=True, limit=LISTED)
    lists: list[dict[str, Any]] = []
    for section, (kind, _, plural) in SECTIONS.items():
        found, total = await contents.listing(store, viewer.principal, kind, query)
        lists.append({"section": section, "title": plural, "items": found, "total": total})
    return pages_of(request).page(request, "content.html", viewer=viewer, lists=lists)


@router.get("/views/{view_id}")
async def view_page(
    request: Request, view_id: str, viewer: ViewerDep, site: str | None = None
) -> Response:
    """A view has no page of its own: its workbook's page, at the view."""
    _check_site(viewer, site)
    view = await contents.view(store_of(request), viewer.principal, view_id)
    return RedirectResponse(
        f"/ui/content/workbooks/{view.workbook_id}#view-{view.id}", status_code=303
    )


@router.get("/{section}/{content_id}")
async def item_page(
    request: Request,
    section: str,
    content_id: str,
    viewer: ViewerDep,
    site: str | None = None,
) -> Response:
    if section not in SECTIONS:
        raise ResourceNotFound("There is no such page.")
    _check_site(viewer, site)
    kind, singular, plural = SECTIONS[section]
    store = store_of(request)
    principal = viewer.principal
    content, views = await contents.get(store, principal, kind, content_id)
    _, connections = await contents.connections(store, principal, kind, content_id)
    # The schedules it is on (tabhooks.web.schedules), as the REST API shows them to the viewer.
    tasks = await schedules.tasks_for(store, principal, content)
    activity = None
    if principal.user.is_site_admin:
        activity = await overview.content_activity(store, principal, content)
    return pages_of(request).page(
        request,
        "content_item.html",
        viewer=viewer,
        section=section,
        singular=singular,
        plural=plural,
        content=content,
        views=views,
        connections=connections,
        activity=activity,
        tasks=tasks,
    )
