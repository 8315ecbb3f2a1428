"""Permissions: Tableau's capabilities, how a caller's are decided, and the permission methods.

The evaluation model (docs/content.md, "Permissions"), Tableau's documented rules:

1. Site and server administrators have every capability on everything of their site.
2. The owner of a workbook, data source or flow has every capability on it; the owner of a
   project has every capability on it, on the projects below it and on their content.
3. A project leader — a user granted ``ProjectLeader`` on a project or any project above it,
   themselves or through a group, with a site role that can publish — has every capability on
   that project, the projects below it and their content.
4. Otherwise the rules decide, for one capability: the user's own rule if they have one
   (``Deny`` or ``Allow``); else any ``Deny`` of one of their groups; else any ``Allow`` of one
   of their groups; else nothing allows it. (User rules beat group rules; Deny beats Allow.)
5. Which rules: a workbook's, data source's or flow's own — unless its project's content
   permissions are locked (``LockedToProject`` on the project or a project above it, or
   ``LockedToProjectWithoutNested`` on the project itself), when the project's default
   permissions for that content type decide instead. A view follows its workbook unless the
   workbook does not show sheets as tabs and the view has rules of its own. A project nested
   in a ``LockedToProject`` project follows the top locked project's rules.
6. A site role caps what its users may ever hold, before rules 2 to 4 (Tableau: "the
   capability is within the scope of their site role"): roles that cannot publish (Viewer,
   Explorer, ReadOnly, Unlicensed) never hold ``Write``, ``Delete``, ``ChangeHierarchy``,
   ``SaveAs``, ``ChangePermissions``, ``ProjectLeader``, ``ExtractRefresh`` or ``Execute`` —
   not even on what they own; Viewer, ReadOnly and Unlicensed also never hold ``ExportXml``
   ("a Viewer will never be able to download a data source even if that capability is
   explicitly granted"), ``ViewUnderlyingData``, ``WebAuthoring`` or
   ``WebAuthoringForFlows``.

Every site has an "All Users" group every user of the site is in; a new site's Default
project grants it Tableau's Viewer template, new top-level projects copy the Default project's
rules, nested projects their parent's, and new content its project's default permissions.

What tabhooks enforces with these, through one question — :func:`allows_content`, "may this
caller do capability C on item I" — and its guard :func:`require`:

- ``Read`` decides what a caller sees (lists, gets, views, connections); unreadable things
  answer as if they did not exist (404), before any other capability is asked about.
- ``Write``: Update Workbook / Data Source / Flow, their connections, tags, data quality
  warnings, publishing over them (``overwrite``/``append``).
- ``Delete``: Delete Workbook / Data Source / Flow.
- ``ExportXml``: Download Workbook / Data Source / Flow (``.../content``).
- ``ExtractRefresh`` or ``Write`` (flows: ``Execute`` or ``Write``): Update Workbook / Data
  Source Now and Run Flow Now.
- ``ChangePermissions``: who may change permissions.
- Project ``Write``: moving content into a project; changing an owner and certifying a data
  source are for administrators and the project's leaders (and owners).

A refusal of a readable item is a 403 with the method's documented code
(:class:`tabhooks.errors.CapabilityForbidden`). The other capabilities are stored and reported
as Tableau reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, not_, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import (
    BadRequest,
    CapabilityForbidden,
    DatasourceNotFound,
    FlowNotFound,
    Forbidden,
    GroupNotFound,
    PermissionNotFound,
    ProjectNotFound,
    ResourceNotFound,
    UserNotFound,
    ViewNotFound,
    WorkbookNotFound,
)
from tabhooks.models import Content, ContentKind, Project, SiteRole, View
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import groups as groups_store
from tabhooks.store import permissions as rules_store
from tabhooks.store import projects as projects_store
from tabhooks.store import users as users_store
from tabhooks.store.permissions import ProjectNode, Rule, Target
from tabhooks.store.tables import contents, projects, views

ALLOW, DENY = "Allow", "Deny"
MODES = (ALLOW, DENY)
READ = "Read"
WRITE = "Write"
DELETE = "Delete"
EXPORT_XML = "ExportXml"
EXTRACT_REFRESH = "ExtractRefresh"
EXECUTE = "Execute"
CHANGE_PERMISSIONS = "ChangePermissions"
PROJECT_LEADER = "ProjectLeader"
INHERITED_PROJECT_LEADER = "InheritedProjectLeader"
LOCKED = "LockedToProject"
LOCKED_WITHOUT_NESTED = "LockedToProjectWithoutNested"

_WORKBOOK = frozenset(
    {
        "AddComment", "ChangeHierarchy", "ChangePermissions", "CreateRefreshMetrics", "Delete",
        "ExportData", "ExportImage", "ExportXml", "ExtractRefresh", "Filter", "Read",
        "RunExplainData", "ShareView", "ViewComments", "ViewUnderlyingData", "WebAuthoring",
        "Write",
    }
)  # fmt: skip
_DATASOURCE = frozenset(
    {
        "ChangePermissions", "Connect", "Delete", "ExportXml", "ExtractRefresh", "Read",
        "SaveAs", "VizqlDataApiAccess", "Write",
    }
)  # fmt: skip
_FLOW = frozenset(
    {
        "ChangeHierarchy", "ChangePermissions", "Delete", "Execute", "ExportXml", "Read",
        "WebAuthoringForFlows", "Write",
    }
)  # fmt: skip
_VIEW = frozenset(
    {
        "AddComment", "ChangePermissions", "Delete", "ExportData", "ExportImage", "ExportXml",
        "Filter", "Read", "ShareView", "ViewComments", "ViewUnderlyingData", "WebAuthoring",
        "Write",
    }
)  # fmt: skip
_PROJECT = frozenset({"ProjectLeader", "Read", "Write"})
#: Every capability TSC 0.42 names: what the default permissions of the content types tabhooks
#: has nothing of (lenses, metrics, ...) accept and store.
KNOWN_CAPABILITIES = _WORKBOOK | _DATASOURCE | _FLOW | _VIEW | _PROJECT | {"PulseMetricDefine"}

#: The capabilities each resource type takes, as Tableau's reference lists them.
CAPABILITIES: dict[str, frozenset[str]] = {
    "project": _PROJECT,
    "workbook": _WORKBOOK,
    "datasource": _DATASOURCE,
    "flow": _FLOW,
    "view": _VIEW,
}

#: Default-permission content types (the URI segment, any case) → (stored scope, capabilities).
DEFAULT_SCOPES: dict[str, tuple[str, frozenset[str]]] = {
    "workbooks": ("workbooks", _WORKBOOK),
    "datasources": ("datasources", _DATASOURCE),
    "flows": ("flows", _FLOW),
    "lenses": ("lenses", KNOWN_CAPABILITIES),
    "metrics": ("metrics", KNOWN_CAPABILITIES),
    "dataroles": ("dataroles", KNOWN_CAPABILITIES),
    "virtualconnections": ("virtualconnections", KNOWN_CAPABILITIES),
    "databases": ("databases", KNOWN_CAPABILITIES),
    "tables": ("tables", KNOWN_CAPABILITIES),
}
_SCOPE_OF_KIND = {
    ContentKind.WORKBOOK: "workbooks",
    ContentKind.DATASOURCE: "datasources",
    ContentKind.FLOW: "flows",
}
#: Site roles that may hold ChangePermissions and ProjectLeader (Tableau's "can publish").
_PUBLISHING_ROLES = frozenset(
    {
        SiteRole.SERVER_ADMINISTRATOR,
        SiteRole.SITE_ADMINISTRATOR_CREATOR,
        SiteRole.SITE_ADMINISTRATOR_EXPLORER,
        SiteRole.SITE_ADMINISTRATOR,
        SiteRole.CREATOR,
        SiteRole.EXPLORER_CAN_PUBLISH,
    }
)
#: Capabilities only a role that can publish may hold (Tableau: who can "publish, overwrite,
#: save a copy", move, delete and set permissions); refreshing and running were already for
#: publishers only here, and stay so.
_PUBLISHING_ONLY = frozenset(
    {
        CHANGE_PERMISSIONS, PROJECT_LEADER, WRITE, DELETE, "ChangeHierarchy", "SaveAs",
        EXTRACT_REFRESH, EXECUTE,
    }
)  # fmt: skip
#: Capabilities a Viewer never holds: downloading the file, the full data, web editing.
_EXPLORER_ONLY = frozenset(
    {EXPORT_XML, "ViewUnderlyingData", "WebAuthoring", "WebAuthoringForFlows"}
)
_VIEWER_ROLES = frozenset({SiteRole.VIEWER, SiteRole.READ_ONLY, SiteRole.UNLICENSED})


def role_allows(site_role: SiteRole, capability: str) -> bool:
    """Whether a site role may hold ``capability`` at all (rule 6, checked before the rest)."""
    if capability in _PUBLISHING_ONLY and site_role not in _PUBLISHING_ROLES:
        return False
    return not (capability in _EXPLORER_ONLY and site_role in _VIEWER_ROLES)


def decide(rules: Iterable[Rule], user_id: str, capability: str) -> bool:
    """Tableau's order for one capability: the user's own rule, else any group Deny, else any
    group Allow, else not allowed. ``rules`` must already be only the caller's and groups'."""
    group_modes: set[str] = set()
    for rule in rules:
        if rule.capability != capability:
            continue
        if rule.grantee_type == "user" and rule.grantee_id == user_id:
            return rule.mode == ALLOW
        if rule.grantee_type == "group":
            group_modes.add(rule.mode)
    return DENY not in group_modes and ALLOW in group_modes


@dataclass(frozen=True)
class Access:
    """What one caller's permission decisions need, read once per request.

    Args:
        projects: the site's projects.
        project_rules: every rule on a project (its own and its defaults) that concerns the
            caller or one of their groups.
        leader_of: projects the caller leads or owns (their content included), see rule 2/3.
    """

    principal: Principal
    group_ids: frozenset[str]
    projects: dict[str, ProjectNode]
    project_rules: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)
    leader_of: frozenset[str] = frozenset()

    @property
    def user_id(self) -> str:
        return self.principal.user.id

    @property
    def is_admin(self) -> bool:
        return self.principal.user.is_site_admin

    @property
    def can_publish(self) -> bool:
        return self.principal.user.site_role in _PUBLISHING_ROLES

    def ancestors(self, project_id: str) -> list[str]:
        """The project and every project above it, nearest first."""
        out: list[str] = []
        current: str | None = project_id
        while current is not None and current in self.projects and current not in out:
            out.append(current)
            current = self.projects[current].parent_id
        return out

    def project_source(self, project_id: str) -> str:
        """Whose rules are a project's own: the top ``LockedToProject`` project above it."""
        source = project_id
        for above in self.ancestors(project_id)[1:]:
            if self.projects[above].content_permissions == LOCKED:
                source = above
        return source

    def content_lock(self, project_id: str) -> str | None:
        """The project whose defaults decide for content in ``project_id``, if locked."""
        chain = self.ancestors(project_id)
        locked = [p for p in chain if self.projects[p].content_permissions == LOCKED]
        if locked:
            return locked[-1]
        node = self.projects.get(project_id)
        if node is not None and node.content_permissions == LOCKED_WITHOUT_NESTED:
            return project_id
        return None

    def within_role(self, capability: str) -> bool:
        """Rule 6: the caller's site role may hold ``capability`` at all."""
        return role_allows(self.principal.user.site_role, capability)

    def _allows(self, rules: list[Rule], capability: str) -> bool:
        if not self.within_role(capability):
            return False
        return decide(rules, self.user_id, capability)

    def leads(self, project_id: str) -> bool:
        return self.is_admin or project_id in self.leader_of

    def on_project(self, project_id: str, capability: str) -> bool:
        """Whether the caller holds ``capability`` on a project."""
        if self.leads(project_id):
            return True
        rules = self.project_rules.get((self.project_source(project_id), ""), [])
        return self._allows(rules, capability)

    def on_defaults(self, project_id: str, scope: str, capability: str) -> bool:
        return self._allows(self.project_rules.get((project_id, scope), []), capability)

    def implicit(self, owner_id: str | None, project_id: str) -> bool:
        """Rules 1 to 3: administrators, the owner, and leaders of the project have everything."""
        return self.is_admin or owner_id == self.user_id or project_id in self.leader_of


async def access(conn: AsyncConnection, principal: Principal) -> Access:
    """Read what deciding the caller's permissions on this site needs."""
    site_id, user_id = principal.site.id, principal.user.id
    tree = await rules_store.project_tree(conn, site_id)
    group_ids = frozenset(await groups_store.ids_of_user(conn, site_id, user_id))
    if principal.user.is_site_admin:
        return Access(principal, group_ids, tree)
    found = await rules_store.for_grantees(conn, list(tree), user_id, group_ids, scope=None)
    by_source: dict[tuple[str, str], list[Rule]] = {}
    for rule in found:
        by_source.setdefault((rule.resource_id, rule.scope), []).append(rule)
    draft = Access(principal, group_ids, tree, by_source)
    leading: set[str] = set()
    for project_id in tree:
        for above in draft.ancestors(project_id):
            if tree[above].owner_id == user_id or draft._allows(
                by_source.get((draft.project_source(above), ""), []), PROJECT_LEADER
            ):
                leading.add(project_id)
                break
    return Access(principal, group_ids, tree, by_source, frozenset(leading))


# ----------------------------------------------------------------------------- content


async def allows_content(
    conn: AsyncConnection, acc: Access, content: Content, capability: str
) -> bool:
    """Whether the caller holds ``capability`` on a workbook, data source or flow: the one
    evaluator every route asks (rules 1 to 6)."""
    if not acc.within_role(capability):
        return False
    if acc.implicit(content.owner_id, content.project_id):
        return True
    lock = acc.content_lock(content.project_id)
    if lock is not None:
        return acc.on_defaults(lock, _SCOPE_OF_KIND[content.kind], capability)
    rules = await rules_store.for_grantees(conn, [content.id], acc.user_id, acc.group_ids)
    return acc._allows(rules, capability)


async def readable_views(
    conn: AsyncConnection, acc: Access, workbook: Content, found: Sequence[View]
) -> list[View]:
    """The views of ``workbook`` the caller may Read (rule 5 for views)."""
    return await views_allowing(conn, acc, workbook, found, READ)


async def views_allowing(
    conn: AsyncConnection, acc: Access, workbook: Content, found: Sequence[View], capability: str
) -> list[View]:
    """The views of ``workbook`` on which the caller holds ``capability`` (rule 5 for views)."""
    if not acc.within_role(capability):
        return []
    if acc.implicit(workbook.owner_id, workbook.project_id):
        return list(found)
    lock = acc.content_lock(workbook.project_id)
    if lock is not None:
        return list(found) if acc.on_defaults(lock, "workbooks", capability) else []
    ids = [workbook.id, *(v.id for v in found)]
    mine = await rules_store.for_grantees(conn, ids, acc.user_id, acc.group_ids)
    own = set() if workbook.show_tabs else await _with_own_rules(conn, [v.id for v in found])
    by_resource: dict[str, list[Rule]] = {}
    for rule in mine:
        by_resource.setdefault(rule.resource_id, []).append(rule)
    out = []
    for view in found:
        source = view.id if view.id in own else workbook.id
        if acc._allows(by_resource.get(source, []), capability):
            out.append(view)
    return out


async def _with_own_rules(conn: AsyncConnection, view_ids: Sequence[str]) -> set[str]:
    return {v for v in view_ids if await rules_store.has_rules(conn, v)}


def _project_sets(acc: Access, scope: str) -> tuple[set[str], set[str]]:
    """Projects whose content the caller sees whole (led, or locked and readable), and
    projects whose content they see none of (locked and not readable)."""
    whole: set[str] = set(acc.leader_of)
    none: set[str] = set()
    for project_id in acc.projects:
        if project_id in whole:
            continue
        lock = acc.content_lock(project_id)
        if lock is not None:
            (whole if acc.on_defaults(lock, scope, READ) else none).add(project_id)
    return whole, none


def content_filter(acc: Access, kind: ContentKind) -> ColumnElement[bool] | None:
    """SQL over ``contents``: the rows of ``kind`` the caller may Read (``None``: all)."""
    if acc.is_admin:
        return None
    whole, none = _project_sets(acc, _SCOPE_OF_KIND[kind])
    return or_(
        contents.c.owner_id == acc.user_id,
        contents.c.project_id.in_(whole) if whole else false(),
        and_(
            not_(contents.c.project_id.in_(whole | none)) if whole | none else ~false(),
            rules_store.readable(contents.c.id, acc.user_id, acc.group_ids),
        ),
    )


def view_filter(acc: Access) -> ColumnElement[bool] | None:
    """SQL over ``views`` joined to their workbook in ``contents``: the views the caller may
    Read (``None``: all)."""
    if acc.is_admin:
        return None
    whole, none = _project_sets(acc, "workbooks")
    own = rules_store.has_own_rules(views.c.id)
    by_rules = or_(
        and_(
            or_(contents.c.show_tabs.is_(True), not_(own)),
            rules_store.readable(contents.c.id, acc.user_id, acc.group_ids),
        ),
        and_(
            contents.c.show_tabs.is_(False),
            own,
            rules_store.readable(views.c.id, acc.user_id, acc.group_ids),
        ),
    )
    return or_(
        contents.c.owner_id == acc.user_id,
        contents.c.project_id.in_(whole) if whole else false(),
        and_(
            not_(contents.c.project_id.in_(whole | none)) if whole | none else ~false(),
            by_rules,
        ),
    )


def readable_projects(acc: Access) -> list[str] | None:
    """Ids of the projects the caller may Read (``None``: all)."""
    if acc.is_admin:
        return None
    return [p for p in acc.projects if acc.on_project(p, READ)]


# ----------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True)
class Resource:
    """Something permissions are set on, with what deciding and rendering them needs."""

    type: str  # project, workbook, datasource, flow or view
    id: str
    name: str
    owner_id: str | None
    project_id: str
    #: For content and views: the workbook, data source or flow (a view's is its workbook).
    content: Content | None = None
    view: View | None = None


_NOT_FOUND: dict[str, type[Exception]] = {
    "project": ProjectNotFound,
    "workbook": WorkbookNotFound,
    "datasource": DatasourceNotFound,
    "flow": FlowNotFound,
    "view": ViewNotFound,
}


def _missing(resource_type: str, resource_id: str) -> Exception:
    return _NOT_FOUND[resource_type](
        f"No {resource_type} with id '{resource_id}' exists on this site."
    )


async def load(
    conn: AsyncConnection, acc: Access, resource_type: str, resource_id: str
) -> Resource:
    """The resource, if it exists on the site and the caller may Read it (else its 404)."""
    site_id = acc.principal.site.id
    if resource_type == "project":
        project = await projects_store.get(conn, site_id, resource_id)
        if project is None or not acc.on_project(project.id, READ):
            raise _missing(resource_type, resource_id)
        return Resource("project", project.id, project.name, project.owner_id, project.id)
    if resource_type == "view":
        view = await contents_store.get_view(conn, site_id, resource_id)
        workbook = (
            await contents_store.get(conn, site_id, ContentKind.WORKBOOK, view.workbook_id)
            if view is not None
            else None
        )
        if (
            view is None
            or workbook is None
            or not await readable_views(conn, acc, workbook, [view])
        ):
            raise _missing(resource_type, resource_id)
        return Resource(
            "view", view.id, view.name, workbook.owner_id, workbook.project_id, workbook, view
        )
    content = await contents_store.get(conn, site_id, ContentKind(resource_type), resource_id)
    if content is None or not await allows_content(conn, acc, content, READ):
        raise _missing(resource_type, resource_id)
    return Resource(
        resource_type, content.id, content.name, content.owner_id, content.project_id, content
    )


async def may_change(conn: AsyncConnection, acc: Access, resource: Resource) -> bool:
    """ChangePermissions on the resource (for a project: owning or leading it). A view's
    are its workbook's."""
    if resource.type == "project":
        return acc.leads(resource.id)
    assert resource.content is not None
    return await allows_content(conn, acc, resource.content, CHANGE_PERMISSIONS)


# ----------------------------------------------------------------------------- the methods


@dataclass(frozen=True, slots=True)
class Grant:
    """One ``<granteeCapabilities>`` of a request: a grantee and its capabilities."""

    grantee_type: str  # user or group
    grantee_id: str
    capabilities: tuple[tuple[str, str], ...]  # (name, mode)


@dataclass(frozen=True, slots=True)
class Listed:
    """A resource's (or a project's default) rules, as Query Permissions answers them."""

    resource: Resource
    rules: list[Rule]


def _check_grants(grants: Sequence[Grant], allowed: frozenset[str], what: str) -> None:
    if not grants:
        raise BadRequest("The request must contain at least one <granteeCapabilities>.")
    for grant in grants:
        if not grant.capabilities:
            raise BadRequest(f"The {grant.grantee_type} '{grant.grantee_id}' has no capability.")
        for name, mode in grant.capabilities:
            if mode not in MODES:
                raise BadRequest(f"Capability mode '{mode}' must be Allow or Deny.")
            if name not in allowed:
                raise BadRequest(
                    f"'{name}' is not a capability of {what}; valid: {', '.join(sorted(allowed))}."
                )


async def _check_grantees(conn: AsyncConnection, site_id: str, grants: Sequence[Grant]) -> None:
    for grant in grants:
        if grant.grantee_type == "user":
            if await users_store.get_on_site(conn, site_id, grant.grantee_id) is None:
                raise UserNotFound(
                    f"No user with id '{grant.grantee_id}' is a member of this site."
                )
        elif await groups_store.get(conn, site_id, grant.grantee_id) is None:
            raise GroupNotFound(f"No group with id '{grant.grantee_id}' exists on this site.")


def _flatten(grants: Sequence[Grant]) -> list[tuple[str, str, str, str]]:
    return [
        (g.grantee_type, g.grantee_id, name, mode) for g in grants for name, mode in g.capabilities
    ]


async def _source(conn: AsyncConnection, acc: Access, resource: Resource) -> tuple[str, str]:
    """Whose rules decide for the resource now: ``(resource id, scope)``."""
    if resource.type == "project":
        return acc.project_source(resource.id), ""
    lock = acc.content_lock(resource.project_id)
    if resource.type == "view":
        assert resource.content is not None
        if lock is not None:
            return lock, "workbooks"
        if not resource.content.show_tabs and await rules_store.has_rules(conn, resource.id):
            return resource.id, ""
        return resource.content.id, ""
    if lock is not None:
        assert resource.content is not None
        return lock, _SCOPE_OF_KIND[resource.content.kind]
    return resource.id, ""


async def _inherited_leaders(conn: AsyncConnection, acc: Access, project_id: str) -> list[Rule]:
    """``InheritedProjectLeader`` of every grantee leading a project above this one."""
    out: dict[tuple[str, str], Rule] = {}
    for above in acc.ancestors(project_id)[1:]:
        for rule in await rules_store.rules_of(conn, acc.project_source(above)):
            if rule.capability == PROJECT_LEADER and rule.mode == ALLOW:
                key = (rule.grantee_type, rule.grantee_id)
                out[key] = Rule(
                    project_id, "", rule.grantee_type, rule.grantee_id,
                    INHERITED_PROJECT_LEADER, ALLOW,
                )  # fmt: skip
    return list(out.values())


async def query(store: Store, principal: Principal, resource_type: str, resource_id: str) -> Listed:
    """Query Permissions: the rules that decide for the resource (anyone who can Read it)."""
    async with store.read() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, resource_type, resource_id)
        source_id, scope = await _source(conn, acc, resource)
        rules = await rules_store.rules_of(conn, source_id, scope)
        if resource.type == "project":
            rules += await _inherited_leaders(conn, acc, resource.id)
    return Listed(resource, rules)


async def add(
    store: Store,
    principal: Principal,
    resource_type: str,
    resource_id: str,
    grants: Sequence[Grant],
) -> Listed:
    """Add Permissions: set each capability for each grantee; answers what was set."""
    allowed = CAPABILITIES[resource_type]
    if resource_type == "project" and any(
        n == INHERITED_PROJECT_LEADER for g in grants for n, _ in g.capabilities
    ):
        raise BadRequest(
            "InheritedProjectLeader is reported, not set: grant ProjectLeader on the project "
            "above instead."
        )
    _check_grants(grants, allowed, f"a {resource_type}")
    async with store.write() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, resource_type, resource_id)
        await _require_change(conn, acc, resource)
        await _check_grantees(conn, principal.site.id, grants)
        target = await _writable(conn, acc, resource)
        await rules_store.put(conn, target, _flatten(grants))
    return Listed(resource, [Rule(resource.id, "", *row) for row in _flatten(grants)])


async def delete(
    store: Store,
    principal: Principal,
    resource_type: str,
    resource_id: str,
    grantee_type: str,
    grantee_id: str,
    capability: str,
    mode: str,
) -> None:
    """Delete Permission: remove one capability of one grantee."""
    async with store.write() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, resource_type, resource_id)
        await _require_change(conn, acc, resource)
        target = await _writable(conn, acc, resource)
        if not await rules_store.remove(conn, target, grantee_type, grantee_id, capability, mode):
            raise PermissionNotFound(
                f"The {grantee_type} '{grantee_id}' has no {capability} {mode} on this "
                f"{resource_type}."
            )


async def _require_change(conn: AsyncConnection, acc: Access, resource: Resource) -> None:
    if not await may_change(conn, acc, resource):
        raise Forbidden(
            f"User '{acc.principal.user.name}' may not change the permissions of "
            f"{resource.type} '{resource.name}': that needs ChangePermissions (owners, project "
            "leaders and administrators have it)."
        )


async def _writable(conn: AsyncConnection, acc: Access, resource: Resource) -> Target:
    """Where a change to the resource's permissions is written, or why it cannot be."""
    site_id = acc.principal.site.id
    if resource.type == "project":
        if acc.project_source(resource.id) != resource.id:
            raise Forbidden(
                f"Project '{resource.name}' is inside a project whose permissions are locked "
                "(LockedToProject): change that project's permissions instead."
            )
        return Target(site_id, "project", resource.id)
    lock = acc.content_lock(resource.project_id)
    if lock is not None:
        raise Forbidden(
            f"The permissions of {resource.type} '{resource.name}' are locked to its project "
            "(contentPermissions): change the project's default permissions instead."
        )
    if resource.type == "view":
        assert resource.content is not None
        if resource.content.show_tabs:
            raise Forbidden(
                f"Workbook '{resource.content.name}' shows its sheets as tabs, so its views "
                "take the workbook's permissions: change the workbook's instead."
            )
        if not await rules_store.has_rules(conn, resource.id):
            # A view's first rules start from its workbook's, as Tableau copies them.
            await rules_store.copy(
                conn, resource.content.id, "", Target(site_id, "view", resource.id)
            )
    return Target(site_id, resource.type, resource.id)


# ----------------------------------------------------------------------------- defaults


def scope_of(content_type: str) -> tuple[str, frozenset[str]]:
    """The stored scope and capabilities of a default-permissions content type (any case)."""
    found = DEFAULT_SCOPES.get(content_type.lower())
    if found is None:
        raise ResourceNotFound(
            f"Default permissions are kept for {', '.join(DEFAULT_SCOPES)}, not "
            f"'{content_type[:40]}'."
        )
    return found


async def query_defaults(
    store: Store, principal: Principal, project_id: str, content_type: str
) -> Listed:
    scope, _ = scope_of(content_type)
    async with store.read() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, "project", project_id)
        rules = await rules_store.rules_of(conn, resource.id, scope)
    return Listed(resource, rules)


async def add_defaults(
    store: Store, principal: Principal, project_id: str, content_type: str, grants: Sequence[Grant]
) -> Listed:
    scope, allowed = scope_of(content_type)
    _check_grants(grants, allowed, f"{scope} (default permissions)")
    async with store.write() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, "project", project_id)
        await _require_change(conn, acc, resource)
        await _check_grantees(conn, principal.site.id, grants)
        await rules_store.put(
            conn, Target(principal.site.id, "project", resource.id, scope), _flatten(grants)
        )
    return Listed(resource, [Rule(resource.id, scope, *row) for row in _flatten(grants)])


async def delete_default(
    store: Store,
    principal: Principal,
    project_id: str,
    content_type: str,
    grantee_type: str,
    grantee_id: str,
    capability: str,
    mode: str,
) -> None:
    scope, _ = scope_of(content_type)
    async with store.write() as conn:
        acc = await access(conn, principal)
        resource = await load(conn, acc, "project", project_id)
        await _require_change(conn, acc, resource)
        target = Target(principal.site.id, "project", resource.id, scope)
        if not await rules_store.remove(conn, target, grantee_type, grantee_id, capability, mode):
            raise PermissionNotFound(
                f"The {grantee_type} '{grantee_id}' has no default {capability} {mode} for "
                f"{scope} in this project."
            )


# ----------------------------------------------------------------------------- new things


async def on_new_project(conn: AsyncConnection, project: Project) -> None:
    """A new project copies its parent's rules, or (top level) the Default project's."""
    source = project.parent_id
    if source is None:
        default = await projects_store.find(
            conn, project.site_id, projects_store.DEFAULT_PROJECT_NAME, None
        )
        source = default.id if default is not None and default.id != project.id else None
    if source is not None:
        await rules_store.copy_project(
            conn, project.site_id, source, project.id, nested=project.parent_id is not None
        )


async def on_new_content(conn: AsyncConnection, content: Content) -> None:
    """New content copies its project's default permissions for its type."""
    await rules_store.copy(
        conn,
        content.project_id,
        _SCOPE_OF_KIND[content.kind],
        Target(content.site_id, content.kind.value, content.id),
    )


# ----------------------------------------------------------------------------- enforcement hooks


async def require_readable(conn: AsyncConnection, principal: Principal, content: Content) -> Access:
    """Read on a workbook, data source or flow, or its 404 as if it did not exist."""
    return await require(conn, principal, content, READ)


async def require(
    conn: AsyncConnection,
    principal: Principal,
    content: Content,
    capability: str | tuple[str, ...],
    *,
    code: str = "403004",
    doing: str = "do this",
) -> Access:
    """Guard a method on a workbook, data source or flow: Read, else its 404 (nothing about
    an item the caller cannot see leaks); then ``capability`` (any one of several), else
    Tableau's 403 with the method's ``code``.

    Args:
        doing: what was refused, for the detail ("update", "download", ...).
    """
    acc = await access(conn, principal)
    if not await allows_content(conn, acc, content, READ):
        raise _missing(content.kind.value, content.id)
    wanted = (capability,) if isinstance(capability, str) else capability
    for name in wanted:
        if name == READ or await allows_content(conn, acc, content, name):
            return acc
    raise _refused(acc, doing, f"{content.kind.value} '{content.name}'", wanted, code)


async def require_on_view(
    conn: AsyncConnection,
    principal: Principal,
    view: View,
    capability: str,
    *,
    code: str = "403004",
    doing: str = "do this",
) -> Content:
    """:func:`require` for a view (its own rules or its workbook's, rule 5); its workbook."""
    acc = await access(conn, principal)
    workbook = await contents_store.get(
        conn, principal.site.id, ContentKind.WORKBOOK, view.workbook_id
    )
    if workbook is None or not await readable_views(conn, acc, workbook, [view]):
        raise _missing("view", view.id)
    if not await views_allowing(conn, acc, workbook, [view], capability):
        raise _refused(acc, doing, f"view '{view.name}'", (capability,), code)
    return workbook


def _refused(
    acc: Access, doing: str, what: str, wanted: tuple[str, ...], code: str
) -> CapabilityForbidden:
    role = acc.principal.user.site_role
    needs = " or ".join(wanted)
    capped = not any(acc.within_role(name) for name in wanted)
    why = (
        f"the site role {role} never holds {needs}"
        if capped
        else f"that needs {needs} (owners, project leaders and administrators have it)"
    )
    return CapabilityForbidden(
        f"User '{acc.principal.user.name}' may not {doing} {what}: {why}.", code
    )


def may_manage(acc: Access, content: Content) -> bool:
    """Certify a data source or hand content to another owner: administrators and the
    leaders (and owners) of its project, not the content's owner alone."""
    return acc.within_role(PROJECT_LEADER) and acc.leads(content.project_id)


def may_publish_into(acc: Access, project_id: str) -> bool:
    """Project ``Write`` ("Publish"): move content into the project."""
    return acc.on_project(project_id, WRITE)


async def content_condition(
    conn: AsyncConnection, principal: Principal, kind: ContentKind
) -> tuple[ColumnElement[bool], ...]:
    """The listing conditions (none, or one) that keep content the caller cannot Read out."""
    if principal.user.is_site_admin:
        return ()
    found = content_filter(await access(conn, principal), kind)
    return () if found is None else (found,)


async def view_condition(
    conn: AsyncConnection, principal: Principal
) -> tuple[ColumnElement[bool], ...]:
    """The listing conditions that keep views the caller cannot Read out."""
    if principal.user.is_site_admin:
        return ()
    found = view_filter(await access(conn, principal))
    return () if found is None else (found,)


async def require_readable_view(conn: AsyncConnection, principal: Principal, view: View) -> None:
    """Read on a view, or its 404 as if it did not exist."""
    if principal.user.is_site_admin:
        return
    acc = await access(conn, principal)
    workbook = await contents_store.get(
        conn, principal.site.id, ContentKind.WORKBOOK, view.workbook_id
    )
    if workbook is None or not await readable_views(conn, acc, workbook, [view]):
        raise _missing("view", view.id)


async def project_condition(
    conn: AsyncConnection, principal: Principal
) -> tuple[ColumnElement[bool], ...]:
    """The listing conditions that keep projects the caller cannot Read out."""
    if principal.user.is_site_admin:
        return ()
    found = readable_projects(await access(conn, principal))
    return () if found is None else (projects.c.id.in_(found),)


async def require_readable_project(
    conn: AsyncConnection, principal: Principal, project_id: str
) -> None:
    if principal.user.is_site_admin:
        return
    if not (await access(conn, principal)).on_project(project_id, READ):
        raise _missing("project", project_id)
