"""Tags and favorites (issue 18): unmodified TSC — the calls of its published samples
``explore_workbook.py``, ``explore_datasource.py`` and ``explore_favorites.py``, in their
order — plus raw XML and JSON for what TSC does not send, on both back ends.

Tags are the item's, shown in every answer that shows it (get, list, a workbook's views, the
site's views, favorites), filterable with ``tags:eq``/``tags:in``, and changed by TSC's
``update`` (which deletes and adds tags with Tableau's tag methods). Tagging and favorites fire
no event, as in Tableau.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC
from tableauserverclient.models import Resource

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, Watch, error_code
from tests.support.server import ServerProcess

TWB = samples.workbook_xml(samples.connection_xml("hyper"), sheets=("Sales", "Profit"))
TDS = samples.datasource_xml(samples.connection_xml("postgres", server="db.local", dbname="s"))
CONTENT_EVENTS = ("WorkbookUpdated", "DatasourceUpdated", "ViewDeleted")


@pytest.fixture()
def watch(admin: Rest) -> Iterator[Watch]:
    running = Watch(admin, CONTENT_EVENTS)
    yield running
    running.close()


def _default_project(tsc: TSC.Server) -> TSC.ProjectItem:
    # explore_workbook.py and explore_datasource.py find it exactly so.
    all_projects, _ = tsc.projects.get()
    found = next((project for project in all_projects if project.is_default()), None)
    assert found is not None
    return found


def _publish_workbook(tsc: TSC.Server, tmp_path: Path, name: str | None = None) -> TSC.WorkbookItem:
    name = name or f"wb-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.twb"
    path.write_bytes(TWB)
    item = TSC.WorkbookItem(_default_project(tsc).id, name=name)
    return tsc.workbooks.publish(item, str(path), TSC.Server.PublishMode.Overwrite)


def _publish(rest: Rest, kind: str) -> tuple[str, str]:
    """A data source, workbook or flow published as ``rest``: (id, name)."""
    name = f"{kind}-{uuid.uuid4().hex[:8]}"
    data = {
        "workbook": ("tableau_workbook", f"{name}.twb", TWB),
        "datasource": ("tableau_datasource", f"{name}.tds", TDS),
        "flow": ("tableau_flow", f"{name}.tfl", samples.package("flow", b"{}")),
    }[kind]
    response = rest.publish(f"{kind}s", f'<tsRequest><{kind} name="{name}"/></tsRequest>', data)
    assert response.status_code == 201, response.text
    return response.json()[kind]["id"], name


def _labels(body: bytes) -> list[str]:
    return sorted(t.get("label", "") for t in ET.fromstring(body).iterfind(".//t:tag", NS))


# ----------------------------------------------------------------------------- TSC samples


def test_explore_workbook_sample_tags_workbook_and_view(
    tsc: TSC.Server, watch: Watch, tmp_path: Path
) -> None:
    """explore_workbook.py's calls, up to where it goes on to custom views (not served)."""
    published = _publish_workbook(tsc, tmp_path)
    watch.take(0)
    all_workbooks, pagination_item = tsc.workbooks.get()
    assert pagination_item.total_available >= 1
    sample_workbook = next(w for w in all_workbooks if w.id == published.id)
    sample_workbook.name = f"Name me something cooler {uuid.uuid4().hex[:6]}"
    sample_workbook.description = "That doesn't work"
    updated: TSC.WorkbookItem = tsc.workbooks.update(sample_workbook)
    assert (updated.name, updated.description) == (sample_workbook.name, "That doesn't work")
    watch.expect(("WorkbookUpdated", "WORKBOOK", published.id, sample_workbook.name))

    tsc.workbooks.populate_views(sample_workbook)
    assert [view.name for view in sample_workbook.views] == ["Sales", "Profit"]
    tsc.workbooks.populate_connections(sample_workbook)
    assert len(sample_workbook.connections) == 1

    # Update tags and show_tabs flag
    original_tag_set = set(sample_workbook.tags)
    assert original_tag_set == set()
    sample_workbook.tags.update("a", "b", "c", "d")
    sample_workbook.show_tabs = True
    tsc.workbooks.update(sample_workbook)
    assert sample_workbook.tags == {"a", "b", "c", "d"}
    assert sample_workbook.show_tabs is True
    assert tsc.workbooks.get_by_id(published.id).tags == {"a", "b", "c", "d"}
    watch.expect(("WorkbookUpdated", "WORKBOOK", published.id, sample_workbook.name))

    # Delete all tags that were added by setting tags to original
    sample_workbook.tags = original_tag_set
    tsc.workbooks.update(sample_workbook)
    assert tsc.workbooks.get_by_id(published.id).tags == set()
    watch.expect(("WorkbookUpdated", "WORKBOOK", published.id, sample_workbook.name))

    # Add tag to just one view
    sample_view = sample_workbook.views[0]
    original_tag_set = set(sample_view.tags)
    sample_view.tags.add("view_tag")
    tsc.views.update(sample_view)
    assert tsc.views.get_by_id(sample_view.id).tags == {"view_tag"}
    site_views = {v.id: v for v in TSC.Pager(tsc.views)}
    assert site_views[sample_view.id].tags == {"view_tag"}
    assert site_views[sample_workbook.views[1].id].tags == set()
    # Delete tag from just one view
    sample_view.tags = original_tag_set
    tsc.views.update(sample_view)
    assert tsc.views.get_by_id(sample_view.id).tags == set()
    watch.take(0)  # tagging a view fires nothing


def test_explore_datasource_sample_tags_a_datasource(
    tsc: TSC.Server, watch: Watch, tmp_path: Path
) -> None:
    """explore_datasource.py's calls, in its order."""
    default_project = _default_project(tsc)
    path = tmp_path / f"ds-{uuid.uuid4().hex[:8]}.tds"
    path.write_bytes(TDS)
    new_datasource = TSC.DatasourceItem(default_project.id)
    new_datasource.description = "Published with a description"
    new_datasource = tsc.datasources.publish(
        new_datasource, str(path), TSC.Server.PublishMode.Overwrite
    )
    all_datasources, pagination_item = tsc.datasources.get()
    assert pagination_item.total_available >= 1
    sample_datasource = next(d for d in all_datasources if d.id == new_datasource.id)
    tsc.datasources.populate_connections(sample_datasource)
    assert [c.datasource_name for c in sample_datasource.connections] == [new_datasource.name]
    watch.take(0)

    sample_datasource.description = "Description updated by TSC"
    tsc.datasources.update(sample_datasource)
    watch.expect(("DatasourceUpdated", "DATASOURCE", new_datasource.id, new_datasource.name))

    original_tag_set = set(sample_datasource.tags)
    sample_datasource.tags.update("a", "b", "c", "d")
    tsc.datasources.update(sample_datasource)
    assert sample_datasource.tags == {"a", "b", "c", "d"}
    got = tsc.datasources.get_by_id(new_datasource.id)
    assert (got.tags, got.description) == ({"a", "b", "c", "d"}, "Description updated by TSC")
    watch.expect(("DatasourceUpdated", "DATASOURCE", new_datasource.id, new_datasource.name))

    sample_datasource.tags = original_tag_set
    tsc.datasources.update(sample_datasource)
    assert tsc.datasources.get_by_id(new_datasource.id).tags == set()
    watch.expect(("DatasourceUpdated", "DATASOURCE", new_datasource.id, new_datasource.name))


def test_explore_favorites_sample_adds_gets_and_deletes(tsc: TSC.Server, tmp_path: Path) -> None:
    """explore_favorites.py's calls; its deletes, which it makes after signing out (they could
    not succeed on any server), are made signed in."""
    workbook = _publish_workbook(tsc, tmp_path)
    path = tmp_path / f"fav-{uuid.uuid4().hex[:8]}.tds"
    path.write_bytes(TDS)
    datasource = tsc.datasources.publish(
        TSC.DatasourceItem(_default_project(tsc).id), str(path), "Overwrite"
    )

    user: TSC.UserItem = TSC.UserItem()
    user.id = tsc.user_id
    tsc.favorites.get(user)
    before = {key: [i.id for i in items] for key, items in user.favorites.items()}

    all_workbook_items, _ = tsc.workbooks.get()
    my_workbook = next(w for w in all_workbook_items if w.id == workbook.id)
    tsc.favorites.add_favorite(user, Resource.Workbook, my_workbook)
    views = tsc.workbooks.populate_views(my_workbook)
    assert views is None  # TSC's populate_views returns nothing; the sample's branch is skipped
    my_view = my_workbook.views[0]
    tsc.favorites.add_favorite_view(user, my_view)
    all_datasource_items, _ = tsc.datasources.get()
    my_datasource = next(d for d in all_datasource_items if d.id == datasource.id)
    tsc.favorites.add_favorite_datasource(user, my_datasource)

    tsc.favorites.get(user)
    assert [w.id for w in user.favorites["workbooks"]] == before["workbooks"] + [workbook.id]
    assert [v.id for v in user.favorites["views"]] == before["views"] + [my_view.id]
    assert [d.id for d in user.favorites["datasources"]] == before["datasources"] + [datasource.id]
    favorite_view = user.favorites["views"][-1]
    assert (favorite_view.workbook_id, favorite_view.name) == (workbook.id, my_view.name)

    tsc.favorites.delete_favorite_workbook(user, my_workbook)
    tsc.favorites.delete_favorite_view(user, my_view)
    tsc.favorites.delete_favorite_datasource(user, my_datasource)
    tsc.favorites.get(user)
    assert {key: [i.id for i in items] for key, items in user.favorites.items()} == before


# ----------------------------------------------------------------------------- tags


def test_tags_shown_on_every_kind_and_filterable(admin: Rest) -> None:
    for kind in ("workbook", "datasource", "flow"):
        item_id, name = _publish(admin, kind)
        body = '<tsRequest><tags><tag label="alpha"/><tag label="&quot;two words&quot;"/></tags></tsRequest>'
        added = admin.call("PUT", f"{kind}s/{item_id}/tags", body)
        assert added.status_code == 200, added.text
        assert _labels(added.content) == ["alpha", "two words"]
        assert _labels(admin.call("GET", f"{kind}s/{item_id}").content) == ["alpha", "two words"]
        # The same again: nothing doubles.
        assert _labels(admin.call("PUT", f"{kind}s/{item_id}/tags", body).content) == [
            "alpha",
            "two words",
        ]
        listed = admin.call(
            "GET", f"{kind}s", params={"filter": f"name:eq:{name}"}, json_out=True
        ).json()
        (item,) = listed[f"{kind}s"][kind]
        assert sorted(t["label"] for t in item["tags"]["tag"]) == ["alpha", "two words"]
        if kind != "flow":  # Tableau documents no tags filter for flows
            tagged = admin.call(
                "GET", f"{kind}s", params={"filter": f"tags:eq:two words,name:eq:{name}"}
            )
            assert tagged.status_code == 200, tagged.text
            assert admin.total(f"{kind}s", filter=f"tags:in:[nope,alpha],name:eq:{name}") == 1
            assert admin.total(f"{kind}s", filter=f"tags:eq:nope,name:eq:{name}") == 0
        deleted = admin.call("DELETE", f"{kind}s/{item_id}/tags/two%20words")
        assert deleted.status_code == 204, deleted.text
        assert _labels(admin.call("GET", f"{kind}s/{item_id}").content) == ["alpha"]
        missing = admin.call("DELETE", f"{kind}s/{item_id}/tags/two%20words")
        assert (missing.status_code, error_code(missing)) == (404, "404008")


def test_labels_split_as_tableau_splits_them_and_json_is_accepted(admin: Rest) -> None:
    workbook_id, _ = _publish(admin, "workbook")
    split = admin.call(
        "PUT",
        f"workbooks/{workbook_id}/tags",
        '<tsRequest><tags><tag label="a b,c"/></tags></tsRequest>',
    )
    assert _labels(split.content) == ["a", "b", "c"]
    as_json = admin.call(
        "PUT",
        f"workbooks/{workbook_id}/tags",
        json.dumps({"tsRequest": {"tags": {"tag": [{"label": "slash/ed"}, {"label": "d"}]}}}),
        json_out=True,
        headers={"Content-Type": "application/json"},
    )
    assert as_json.status_code == 200, as_json.text
    assert sorted(t["label"] for t in as_json.json()["tags"]["tag"]) == [
        "a", "b", "c", "d", "slash/ed",
    ]  # fmt: skip
    # A tag holding a slash is deleted by its encoded name, as TSC sends it.
    assert admin.call("DELETE", f"workbooks/{workbook_id}/tags/slash%2Fed").status_code == 204
    assert "slash/ed" not in _labels(admin.call("GET", f"workbooks/{workbook_id}").content)


def test_tag_refusals(admin: Rest, server: ServerProcess) -> None:
    workbook_id, _ = _publish(admin, "workbook")
    cases = [
        ("PUT", f"workbooks/{uuid.uuid4()}/tags", '<tsRequest><tags><tag label="x"/></tags></tsRequest>', 404, "404006"),
        ("PUT", f"datasources/{workbook_id}/tags", '<tsRequest><tags><tag label="x"/></tags></tsRequest>', 404, "404012"),
        ("PUT", f"views/{uuid.uuid4()}/tags", '<tsRequest><tags><tag label="x"/></tags></tsRequest>', 404, "404011"),
        ("PUT", f"workbooks/{workbook_id}/tags", "<tsRequest><tags/></tsRequest>", 400, "400000"),
        ("PUT", f"workbooks/{workbook_id}/tags", '<tsRequest><tags><tag label=" "/></tags></tsRequest>', 400, "400000"),
        ("PUT", f"workbooks/{workbook_id}/tags", f'<tsRequest><tags><tag label="{"x" * 256}"/></tags></tsRequest>', 400, "400000"),
        ("PUT", f"workbooks/{workbook_id}/tags", "<tsRequest/>", 400, "400000"),
        ("DELETE", f"workbooks/{workbook_id}/tags/never", None, 404, "404008"),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        response = admin.call(method, path, body)
        assert (response.status_code, error_code(response)) == (status, code), (path, body)

    viewer_name = f"viewer-{uuid.uuid4().hex[:6]}"
    admin.add_user(viewer_name, "Viewer", "viewer-password-1")
    viewer = Rest.sign_in(server, viewer_name, "viewer-password-1")
    try:
        refused = viewer.call(
            "PUT",
            f"workbooks/{workbook_id}/tags",
            '<tsRequest><tags><tag label="x"/></tags></tsRequest>',
        )
        # Tableau's code for "Adding tags forbidden" (Add Tags to Workbook's error table).
        assert (refused.status_code, error_code(refused)) == (403, "403004")
        assert viewer.call("GET", f"workbooks/{workbook_id}").status_code == 200
    finally:
        viewer.close()


def test_batch_add_and_delete_with_tsc(tsc: TSC.Server, tmp_path: Path) -> None:
    workbook = _publish_workbook(tsc, tmp_path)
    path = tmp_path / f"batch-{uuid.uuid4().hex[:8]}.tds"
    path.write_bytes(TDS)
    datasource = tsc.datasources.publish(
        TSC.DatasourceItem(_default_project(tsc).id), str(path), "Overwrite"
    )
    added = tsc.tags.batch_add({"quarterly", "Q3 sales"}, [workbook, datasource])
    assert added == {"quarterly", "Q3 sales"}
    assert tsc.workbooks.get_by_id(workbook.id).tags == {"quarterly", "Q3 sales"}
    assert tsc.datasources.get_by_id(datasource.id).tags == {"quarterly", "Q3 sales"}
    tsc.tags.batch_delete("quarterly", [workbook, datasource])
    assert tsc.workbooks.get_by_id(workbook.id).tags == {"Q3 sales"}
    assert tsc.datasources.get_by_id(datasource.id).tags == {"Q3 sales"}


def test_views_filter_by_tags_and_workbook_views_show_them(admin: Rest) -> None:
    workbook_id, name = _publish(admin, "workbook")
    views = admin.call("GET", f"workbooks/{workbook_id}/views", json_out=True).json()
    sales = next(v for v in views["views"]["view"] if v["name"] == "Sales")
    tagged = admin.call(
        "PUT", f"views/{sales['id']}/tags", '<tsRequest><tags><tag label="kpi"/></tags></tsRequest>'
    )
    assert _labels(tagged.content) == ["kpi"]
    listed = admin.call(
        "GET", "views", params={"filter": f"tags:eq:kpi,workbookName:eq:{name}"}, json_out=True
    ).json()
    assert [v["id"] for v in listed["views"]["view"]] == [sales["id"]]
    again = admin.call("GET", f"workbooks/{workbook_id}/views", json_out=True).json()
    shown = {v["name"]: v.get("tags", {}).get("tag", []) for v in again["views"]["view"]}
    assert shown == {"Sales": [{"label": "kpi"}], "Profit": []}


# ----------------------------------------------------------------------------- favorites


def _favorite(kind: str, item_id: str, label: str | None = None) -> str:
    label_attr = f' label="{label}"' if label is not None else ""
    return f'<tsRequest><favorite{label_attr}><{kind} id="{item_id}"/></favorite></tsRequest>'


def test_favorites_of_every_kind_raw_xml(admin: Rest) -> None:
    workbook_id, workbook_name = _publish(admin, "workbook")
    datasource_id, _ = _publish(admin, "datasource")
    flow_id, flow_name = _publish(admin, "flow")
    project = admin.call(
        "POST", "projects", f'<tsRequest><project name="fav-{uuid.uuid4().hex[:6]}"/></tsRequest>'
    )
    project_id = ET.fromstring(project.content).find("t:project", NS).get("id")  # type: ignore[union-attr]
    views = admin.call("GET", f"workbooks/{workbook_id}/views", json_out=True).json()
    view_id = views["views"]["view"][0]["id"]
    user = admin.user_id
    for kind, item_id in (
        ("workbook", workbook_id),
        ("view", view_id),
        ("datasource", datasource_id),
        ("project", project_id),
        ("flow", flow_id),
    ):
        added = admin.call("PUT", f"favorites/{user}", _favorite(kind, str(item_id)))
        assert added.status_code == 200, added.text
    again = admin.call("PUT", f"favorites/{user}", _favorite("flow", flow_id, "again"))
    assert (again.status_code, error_code(again)) == (409, "409000")

    got = admin.call("GET", f"favorites/{user}", json_out=True)
    assert got.status_code == 200, got.text
    favorites = got.json()["favorites"]["favorite"]
    by_kind = {
        next(k for k in ("workbook", "view", "datasource", "project", "flow") if k in f): f
        for f in favorites
        if any(
            f.get(k, {}).get("id") in (workbook_id, view_id, datasource_id, project_id, flow_id)
            for k in ("workbook", "view", "datasource", "project", "flow")
        )
    }
    assert set(by_kind) == {"workbook", "view", "datasource", "project", "flow"}
    assert by_kind["workbook"]["label"] == workbook_name
    assert by_kind["flow"]["flow"]["name"] == flow_name
    assert admin.total("workbooks", filter=f"favoritesTotal:gte:1,name:eq:{workbook_name}") == 1

    only_labels = admin.call("GET", f"favorites/{user}", params={"fields": "label"}, json_out=True)
    assert all(set(f) == {"label"} for f in only_labels.json()["favorites"]["favorite"])

    for collection, item_id in (
        ("workbooks", workbook_id),
        ("views", view_id),
        ("datasources", datasource_id),
        ("projects", project_id),
        ("flows", flow_id),
    ):
        gone = admin.call("DELETE", f"favorites/{user}/{collection}/{item_id}")
        assert gone.status_code == 204, gone.text
        missing = admin.call("DELETE", f"favorites/{user}/{collection}/{item_id}")
        assert (missing.status_code, error_code(missing)) == (404, "404003")
    assert admin.total("workbooks", filter=f"favoritesTotal:gte:1,name:eq:{workbook_name}") == 0


def test_favorites_are_personal_and_go_with_their_item(admin: Rest, server: ServerProcess) -> None:
    workbook_id, _ = _publish(admin, "workbook")
    name = f"fan-{uuid.uuid4().hex[:6]}"
    fan_id = admin.add_user(name, "Viewer", "fan-password-1")
    fan = Rest.sign_in(server, name, "fan-password-1")
    try:
        mine = fan.call("PUT", f"favorites/{fan_id}", _favorite("workbook", workbook_id, "mine"))
        assert mine.status_code == 200, mine.text
        others = fan.call("GET", f"favorites/{admin.user_id}")
        assert (others.status_code, error_code(others)) == (403, "403000")
        adding = fan.call("PUT", f"favorites/{admin.user_id}", _favorite("workbook", workbook_id))
        assert adding.status_code == 403
        # A site administrator sees anyone's on the site.
        seen = admin.call("GET", f"favorites/{fan_id}")
        assert [
            f.get("label") for f in ET.fromstring(seen.content).iterfind(".//t:favorite", NS)
        ] == ["mine"]
        unknown = admin.call("GET", f"favorites/{uuid.uuid4()}")
        assert (unknown.status_code, error_code(unknown)) == (404, "404002")
        no_item = fan.call("PUT", f"favorites/{fan_id}", _favorite("workbook", str(uuid.uuid4())))
        assert (no_item.status_code, error_code(no_item)) == (404, "404006")
        metric = fan.call("PUT", f"favorites/{fan_id}", _favorite("metric", str(uuid.uuid4())))
        assert (metric.status_code, error_code(metric)) == (400, "400000")

        assert admin.call("DELETE", f"workbooks/{workbook_id}").status_code == 204
        left = fan.call("GET", f"favorites/{fan_id}")
        assert list(ET.fromstring(left.content).iterfind(".//t:favorite", NS)) == []
    finally:
        fan.close()
    assert admin.call("DELETE", f"users/{fan_id}").status_code == 204


def test_tsc_generic_delete_favorite_and_project_and_flow_helpers(
    tsc: TSC.Server, admin: Rest
) -> None:
    flow_id, _ = _publish(admin, "flow")
    flow = tsc.flows.get_by_id(flow_id)
    project = _default_project(tsc)
    user = TSC.UserItem()
    user.id = tsc.user_id
    tsc.favorites.add_favorite_project(user, project)
    tsc.favorites.add_favorite_flow(user, flow)
    tsc.favorites.get(user)
    assert project.id in [p.id for p in user.favorites["projects"]]
    assert flow_id in [f.id for f in user.favorites["flows"]]
    # TSC's generic delete sends the singular (".../project/{id}").
    tsc.favorites.delete_favorite(user, Resource.Project, project)
    tsc.favorites.delete_favorite_flow(user, flow)
    tsc.favorites.get(user)
    assert project.id not in [p.id for p in user.favorites["projects"]]
    assert flow_id not in [f.id for f in user.favorites["flows"]]


def test_tsc_flow_update_changes_tags(tsc: TSC.Server, admin: Rest) -> None:
    """TSC's flows.update tags through its older tagger (which reads 404008 as "too old")."""
    flow_id, _ = _publish(admin, "flow")
    flow = tsc.flows.get_by_id(flow_id)
    flow.tags.update({"x", "y z"})
    assert tsc.flows.update(flow).tags == {"x", "y z"}
    assert tsc.flows.get_by_id(flow_id).tags == {"x", "y z"}
    flow = tsc.flows.get_by_id(flow_id)
    flow.tags = {"x"}
    tsc.flows.update(flow)
    assert tsc.flows.get_by_id(flow_id).tags == {"x"}
