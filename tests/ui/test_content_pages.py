"""Content pages in a real browser: reached from a REST ``webpageUrl`` and from a relayed
Slack message's Open link (both were an XML 404 page), with owner, project, connections,
jobs and the events each content fired; what a Viewer sees of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_inbox import Admin
from tests.support.rest import Rest
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml, workbook_xml
from tests.ui.conftest import PageWatch, expect, sign_in

VIEWER_NAME = "content-viewer"
VIEWER_PASSWORD = "content-viewer-password-1"


@pytest.fixture(scope="module")
def rest(ui_server: ServerProcess) -> Iterator[Rest]:
    signed_in = Rest.sign_in(ui_server)
    yield signed_in
    signed_in.close()


def _publish(rest: Rest, kind: str, name: str, data: bytes, **params: str) -> dict[str, Any]:
    part, extension = {
        "datasource": ("tableau_datasource", "tds"),
        "workbook": ("tableau_workbook", "twb"),
    }[kind]
    answer = rest.publish(
        f"{kind}s",
        f'<tsRequest><{kind} name="{name}"/></tsRequest>',
        (part, f"{name}.{extension}", data),
        params=params or None,
    )
    assert answer.status_code in (201, 202), answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def orders(admin: Admin, rest: Rest) -> dict[str, Any]:
    """Data source "Orders", published, then republished as a job while a webhook listens
    to its updates (so it has a job, two events and a delivery)."""
    watcher = admin.create_bin(name="Content watcher")
    admin.create_webhook("content-watch", watcher["url"], "DatasourceUpdated")
    connection = connection_xml(
        "postgres", server="db.example.test", port="5432", dbname="orders", username="etl"
    )
    published = _publish(rest, "datasource", "Orders", datasource_xml(connection))
    _publish(
        rest, "datasource", "Orders", datasource_xml(connection), overwrite="true", asJob="true"
    )
    admin.wait_requests(watcher["id"], 1)
    return dict(published["datasource"])


def test_webpage_url_opens_the_content_page_with_its_story(
    watch: PageWatch, admin: Admin, rest: Rest, orders: dict[str, Any], screenshots: Path
) -> None:
    webpage_url = orders["webpageUrl"]
    assert webpage_url == f"{admin.base_url}/ui/content/datasources/{orders['id']}"

    page = watch.page
    answer = page.goto(webpage_url)  # not signed in yet: the sign-in page, then back here
    assert answer is not None and answer.status == 200
    expect(page.locator("h1")).to_have_text("Sign in")
    sign_in(page, go=False)
    expect(page.locator("h1")).to_contain_text("Orders")
    assert page.url == webpage_url
    expect(page.locator("#content-project")).to_have_text("Default")
    expect(page.locator("#content-owner")).to_have_text("admin")
    connections = page.locator("#connections tbody tr")
    expect(connections).to_have_count(1)
    expect(connections).to_contain_text("db.example.test:5432")
    expect(connections).to_contain_text("orders")
    expect(connections).to_contain_text("etl")
    expect(page.locator("#jobs tbody tr").first).to_contain_text("PublishDatasource")
    events = page.locator("#events tbody tr")
    expect(events.locator(".badge.event")).to_have_text(["DatasourceUpdated", "DatasourceCreated"])
    expect(events.first.locator(".event-deliveries a")).to_have_text("content-watch")
    expect(events.nth(1)).to_contain_text("no webhook listened")
    page.screenshot(path=str(screenshots / "content.png"), full_page=True, animations="disabled")
    events.first.locator(".event-deliveries a").click()
    expect(page.locator("#delivery-source")).to_contain_text("content-watch")

    # A view's link lands on its workbook's page, at the view.
    book = _publish(rest, "workbook", "Sales Book", workbook_xml(connection_xml("hyper")))
    view = book["workbook"]["views"]["view"][0]
    page.goto(f"/ui/content/views/{view['id']}")
    expect(page.locator("h1")).to_contain_text("Sales Book")
    assert page.url.endswith(f"#view-{view['id']}")
    expect(page.locator(f"#view-{view['id']}")).to_contain_text(view["name"])


def test_the_relayed_messages_open_link_leads_to_the_content_page(
    watch: PageWatch, admin: Admin, orders: dict[str, Any]
) -> None:
    receiver = admin.create_bin(name="Slack stand-in")
    route = httpx.post(
        f"{admin.base_url}/tabhooks/v1/relays",
        json={"name": "orders to slack", "targets": [{"type": "slack", "url": receiver["url"]}]},
        headers=admin.headers,
    ).json()
    relayed = httpx.post(
        route["inbound_url"],
        json={
            "event_type": "DatasourceRefreshFailed",
            "resource": "DATASOURCE",
            "resource_name": "Orders",
            "site_luid": admin.site_id,
            "resource_luid": orders["id"],
        },
    )
    (delivery_id,) = relayed.json()["delivery_ids"]
    (sent,) = admin.wait_requests(receiver["id"], 1)
    assert f"<{orders['webpageUrl']}|Open>" in sent["body"]

    page = watch.page
    sign_in(page)
    page.goto(f"/ui/deliveries/{delivery_id}")
    page.locator(".chat-preview.slack a", has_text="Open").click()
    expect(page.locator("h1")).to_contain_text("Orders")
    expect(page.locator("#content-owner")).to_have_text("admin")


def test_a_viewer_sees_content_but_not_jobs_events_or_webhooks(
    watch: PageWatch, rest: Rest, orders: dict[str, Any]
) -> None:
    rest.add_user(VIEWER_NAME, "Viewer", VIEWER_PASSWORD)
    page = watch.page
    sign_in(page, VIEWER_PASSWORD, VIEWER_NAME)
    expect(page.locator("h1")).to_contain_text("Content")  # a Viewer's first page
    expect(page.locator("header.top nav a")).to_have_text(["Content", "Inbox", "Docs"])
    page.goto(f"/ui/content/datasources/{orders['id']}")
    expect(page.locator("#connections")).to_contain_text("db.example.test")
    expect(page.locator("#activity-hidden")).to_be_visible()
    expect(page.locator("#jobs, #events")).to_have_count(0)
    answer = page.goto("/ui/webhooks")
    assert answer is not None and answer.status == 403

    # A link for another site says which site to sign in to.
    answer = page.goto(f"/ui/content/datasources/{orders['id']}?site=finance")
    assert answer is not None and answer.status == 404
    expect(page.locator(".problem .message")).to_contain_text("site 'finance'")
    expect(page.locator(".problem .message")).to_contain_text("the default site")
