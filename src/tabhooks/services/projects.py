"""Project use cases: list, create, get, update, delete (with everything inside)."""

from __future__ import annotations

from dataclasses import replace

from tabhooks.errors import BadRequest, Conflict, Forbidden, ProjectNotFound
from tabhooks.models import Project
from tabhooks.services import contents as contents_service
from tabhooks.services import permissions
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import projects as projects_store
from tabhooks.store.listing import Listing

CONTENT_PERMISSIONS = ("ManagedByOwner", "LockedToProject", "LockedToProjectWithoutNested")


def _check(name: str | None, permissions: str | None) -> None:
    if name is not None and not name.strip():
        raise BadRequest("The project name must not be empty.")
    if permissions is not None and permissions not in CONTENT_PERMISSIONS:
        raise BadRequest(f"contentPermissions must be one of {', '.join(CONTENT_PERMISSIONS)}.")


async def listing(
    store: Store,
    principal: Principal,
    *,
    names: tuple[str, ...] | None,
    parent_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Project], int]:
    async with store.read() as conn:
        return await projects_store.page(
            conn, principal.site.id, names=names, parent_id=parent_id, offset=offset, limit=limit
        )


async def search(store: Store, principal: Principal, query: Listing) -> tuple[list[Project], int]:
    """Query Projects: Tableau's filters, sort and page."""
    async with store.read() as conn:
        hidden = await permissions.project_condition(conn, principal)  # what it can't Read
        query = replace(query, extra=(*query.extra, *hidden))
        return await projects_store.search(conn, principal.site.id, query)


async def get(store: Store, principal: Principal, project_id: str) -> Project:
    async with store.read() as conn:
        project = await projects_store.get(conn, principal.site.id, project_id)
        if project is not None:
            await permissions.require_readable_project(conn, principal, project.id)
    if project is None:
        raise ProjectNotFound(f"No project with id '{project_id}' exists on this site.")
    return project


async def create(
    store: Store,
    principal: Principal,
    *,
    name: str,
    description: str,
    parent_id: str | None,
    content_permissions: str | None,
) -> Project:
    principal.require_site_admin()
    _check(name, content_permissions)
    site_id = principal.site.id
    async with store.write() as conn:
        if parent_id and await projects_store.get(conn, site_id, parent_id) is None:
            raise ProjectNotFound(f"The parent project '{parent_id}' does not exist.")
        if await projects_store.find(conn, site_id, name, parent_id) is not None:
            raise Conflict(f"A project named '{name}' already exists there.")
        project = await projects_store.create(
            conn,
            site_id=site_id,
            name=name,
            description=description,
            parent_id=parent_id,
            content_permissions=content_permissions or CONTENT_PERMISSIONS[0],
            owner_id=principal.user.id,
        )
        await permissions.on_new_project(conn, project)  # Tableau: the parent's, or Default's
        return project


async def update(
    store: Store,
    principal: Principal,
    project_id: str,
    *,
    name: str | None,
    description: str | None,
    parent_id: str | None,
    content_permissions: str | None,
) -> Project:
    principal.require_site_admin()
    _check(name, content_permissions)
    site_id = principal.site.id
    async with store.write() as conn:
        project = await projects_store.get(conn, site_id, project_id)
        if project is None:
            raise ProjectNotFound(f"No project with id '{project_id}' exists on this site.")
        if parent_id is not None:
            if parent_id in await projects_store.descendants(conn, site_id, project_id):
                raise BadRequest("A project cannot be moved under itself.")
            if await projects_store.get(conn, site_id, parent_id) is None:
                raise ProjectNotFound(f"The parent project '{parent_id}' does not exist.")
        # Renaming or moving must not make two siblings share a name, as creating cannot.
        new_name = name if name is not None else project.name
        new_parent = parent_id if parent_id is not None else project.parent_id
        twin = await projects_store.find(conn, site_id, new_name, new_parent)
        if twin is not None and twin.id != project_id:
            raise Conflict(f"A project named '{new_name}' already exists there.")
        values = {
            k: v
            for k, v in {
                "name": name,
                "description": description,
                "parent_id": parent_id,
                "content_permissions": content_permissions,
            }.items()
            if v is not None
        }
        await projects_store.change(conn, project_id, **values)
        updated = await projects_store.get(conn, site_id, project_id)
    assert updated is not None
    return updated


async def delete(store: Store, principal: Principal, project_id: str) -> None:
    """Delete a project, its sub-projects and their content, firing each content's events."""
    principal.require_site_admin()
    site_id = principal.site.id
    async with store.write() as conn:
        project = await projects_store.get(conn, site_id, project_id)
        if project is None:
            raise ProjectNotFound(f"No project with id '{project_id}' exists on this site.")
        if project.parent_id is None and project.name.lower() == "default":
            raise Forbidden("The Default project cannot be deleted.")
        doomed = await projects_store.descendants(conn, site_id, project_id)
        for content in await contents_store.ids_in_projects(conn, doomed):
            await contents_service.remove_with_events(conn, content)
        await projects_store.remove(conn, project_id)
