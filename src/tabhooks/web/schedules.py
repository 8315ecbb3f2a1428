"""``/ui/schedules``: what runs next on the viewer's site, and (for server administrators)
every server schedule; and the schedules of one content, for its page.

What a signed-in user sees follows the REST API (:mod:`tabhooks.services.tasks`): a site or
server administrator sees every task of the site, anyone else the tasks of the content they
own; server schedules are listed to server administrators only.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import store_of
from tabhooks.models import Content
from tabhooks.services import schedules, tasks
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store.schedules import EXTRACT_REFRESH, RUN_FLOW, Schedule, Task
from tabhooks.web.session import ViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui/schedules", include_in_schema=False)

#: Tasks shown per kind (the page is a glance, the REST API lists them all).
LISTED = 500
_FAR = datetime.max.replace(tzinfo=None)


def _soonest(task: Task) -> tuple[bool, datetime]:
    moment = task.schedule.next_run_at
    return (moment is None, moment.replace(tzinfo=None) if moment else _FAR)


async def site_tasks(store: Store, principal: Principal) -> list[Task]:
    """The viewer's tasks (refreshes and flow runs), the next to run first; suspended last."""
    found: list[Task] = []
    for kind in (EXTRACT_REFRESH, RUN_FLOW):
        some, _ = await tasks.listing(store, principal, kind, limit=LISTED)
        found += some
    return sorted(found, key=_soonest)


async def tasks_for(store: Store, principal: Principal, content: Content) -> list[Task]:
    """The schedules ``content`` is on (for its page), the next to run first."""
    return [t for t in await site_tasks(store, principal) if t.content_id == content.id]


@router.get("")
@router.get("/")
async def schedules_page(request: Request, viewer: ViewerDep) -> Response:
    store = store_of(request)
    principal = viewer.principal
    server: list[Schedule] | None = None
    if principal.user.is_server_admin:
        server, _ = await schedules.listing(store, principal, names=None, offset=0, limit=LISTED)
    return pages_of(request).page(
        request,
        "schedules.html",
        viewer=viewer,
        tasks=await site_tasks(store, principal),
        server_schedules=server,
        zone=request.app.state.settings.schedule_timezone,
    )
