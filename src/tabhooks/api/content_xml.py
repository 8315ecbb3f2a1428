"""Tableau's XML/JSON shapes for projects, workbooks, data sources, views and connections."""

from __future__ import annotations

from tabhooks.models import Connection, Content, ContentKind, Project, View
from tabhooks.relay.messages import content_page_url
from tabhooks.tsxml import Element, element, listing, timestamp


def project_element(project: Project) -> Element:
    return element(
        "project",
        element("owner", id=project.owner_id) if project.owner_id else None,
        id=project.id,
        name=project.name,
        description=project.description,
        contentPermissions=project.content_permissions,
        parentProjectId=project.parent_id,
        createdAt=timestamp(project.created_at),
        updatedAt=timestamp(project.updated_at),
    )


#: The dashboard's content page section of each kind (``webpageUrl`` points there).
_SECTIONS = {
    ContentKind.WORKBOOK: "workbooks",
    ContentKind.DATASOURCE: "datasources",
    ContentKind.FLOW: "flows",
}


def _common(content: Content, base_url: str, site_url: str) -> dict[str, object]:
    return {
        "id": content.id,
        "name": content.name,
        "contentUrl": content.content_url,
        "description": content.description,
        "webpageUrl": content_page_url(base_url, site_url, _SECTIONS[content.kind], content.id),
        "size": max(1, content.size // (1024 * 1024)) if content.size else 0,
        "createdAt": timestamp(content.created_at),
        "updatedAt": timestamp(content.updated_at),
    }


def tags_element(labels: tuple[str, ...] | list[str]) -> Element:
    """``<tags><tag label="..."/>...</tags>``, as every answer that shows an item carries it."""
    return listing("tags", [element("tag", label=label) for label in labels])


def _children(content: Content) -> list[Element | None]:
    return [
        element("project", id=content.project_id, name=content.project_name),
        element("owner", id=content.owner_id, name=content.owner_name)
        if content.owner_id
        else None,
        tags_element(content.tags),
    ]


def workbook_element(
    content: Content, views: list[View] | None, base_url: str, site_url: str
) -> Element:
    children = _children(content)
    if views is not None:
        children.append(listing("views", [view_element(v, brief=True) for v in views]))
    return element(
        "workbook",
        *children,
        showTabs=content.show_tabs,
        defaultViewId=views[0].id if views else None,
        **_common(content, base_url, site_url),  # type: ignore[arg-type]
    )


def datasource_element(content: Content, base_url: str, site_url: str) -> Element:
    return element(
        "datasource",
        *_children(content),
        type=content.type or "dataengine",
        hasExtracts=content.has_extracts,
        encryptExtracts=False,
        isCertified=content.is_certified,
        certificationNote=content.certification_note if content.is_certified else None,
        **_common(content, base_url, site_url),  # type: ignore[arg-type]
    )


def flow_element(content: Content, base_url: str, site_url: str) -> Element:
    common = _common(content, base_url, site_url)
    return element("flow", *_children(content), fileType=content.file_type, **common)  # type: ignore[arg-type]


def content_element(
    content: Content, base_url: str, site_url: str, views: list[View] | None = None
) -> Element:
    if content.kind is ContentKind.WORKBOOK:
        return workbook_element(content, views, base_url, site_url)
    if content.kind is ContentKind.DATASOURCE:
        return datasource_element(content, base_url, site_url)
    return flow_element(content, base_url, site_url)


def view_element(view: View, *, brief: bool = False) -> Element:
    if brief:
        return element("view", id=view.id, name=view.name, contentUrl=view.content_url)
    return element(
        "view",
        element("workbook", id=view.workbook_id),
        element("owner", id=view.owner_id) if view.owner_id else None,
        element("project", id=view.project_id) if view.project_id else None,
        tags_element(view.tags),
        id=view.id,
        name=view.name,
        contentUrl=view.content_url,
        sheetType=view.sheet_type,
        viewUrlName=view.content_url.rsplit("/", 1)[-1],
        createdAt=timestamp(view.created_at),
        updatedAt=timestamp(view.updated_at),
    )


def connection_element(connection: Connection, content: Content) -> Element:
    owner = "datasource" if content.kind is ContentKind.DATASOURCE else "workbook"
    return element(
        "connection",
        element(owner, id=content.id, name=content.name),
        id=connection.id,
        type=connection.type,
        embedPassword=connection.embed_password,
        serverAddress=connection.server_address,
        serverPort=connection.server_port,
        userName=connection.username,
        queryTaggingEnabled=connection.query_tagging,
    )
