"""Tableau's webhook methods: TSC, both syntaxes, both dialects, and every rule."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
import tableauserverclient as TSC

from tabhooks import events
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

NS = {"t": "http://tableau.com/api"}
DEST = "https://hooks.example.com/tableau"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


class Api:
    """Raw REST calls as the admin, in either dialect."""

    def __init__(self, server: ServerProcess, token: str, site_id: str) -> None:
        self.base = f"{server.base_url}/api/3.28/sites/{site_id}/webhooks"
        self.server = server
        self.site_id = site_id
        self.token = token

    def call(
        self,
        method: str,
        path: str = "",
        body: str | bytes | None = None,
        *,
        json_out: bool = False,
        version: str = "3.28",
        token: str | None = None,
    ) -> httpx.Response:
        url = self.base.replace("/api/3.28/", f"/api/{version}/") + path
        headers = {"X-Tableau-Auth": token or self.token}
        if json_out:
            headers["Accept"] = "application/json"
        return httpx.request(method, url, content=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def api(server: ServerProcess, admin_token: tuple[str, str, str]) -> Api:
    token, site_id, _ = admin_token
    return Api(server, token, site_id)


def _xml_create(
    name: str,
    *,
    event: str | None = None,
    source: str | None = None,
    url: str = DEST,
    extra: str = "",
) -> str:
    attrs = f'name="{name}"' + (f' event="{event}"' if event else "") + extra
    source_xml = f"<webhook-source><{source} /></webhook-source>" if source else ""
    return (
        f"<tsRequest><webhook {attrs}>{source_xml}<webhook-destination>"
        f'<webhook-destination-http method="POST" url="{url}" /></webhook-destination>'
        "</webhook></tsRequest>"
    )


def _json_create(
    name: str,
    *,
    event: str | None = None,
    source: str | None = None,
    url: str = DEST,
    **extra: object,
) -> str:
    webhook: dict[str, object] = {
        "name": name,
        "webhook-destination": {"webhook-destination-http": {"method": "POST", "url": url}},
        **extra,
    }
    if event:
        webhook["event"] = event
    if source:
        webhook["webhook-source"] = {source: {}}
    return json.dumps({"webhook": webhook})


def _error_code(response: httpx.Response) -> str:
    if response.headers["content-type"].startswith("application/json"):
        return response.json()["error"]["code"]
    return ET.fromstring(response.content).find("t:error", NS).get("code")


def _webhook(response: httpx.Response) -> ET.Element:
    node = ET.fromstring(response.content).find("t:webhook", NS)
    assert node is not None, response.text
    return node


# ----------------------------------------------------------------------------- TSC


def test_tsc_create_get_test_delete(tsc: TSC.Server, receiver: Receiver) -> None:
    item = TSC.WebhookItem()
    item.name = "tsc-legacy"
    item.url = receiver.url
    item.event = "datasource-created"  # TSC prefixes webhook-source-event-
    created = tsc.webhooks.create(item)
    assert created.id and created.event == "datasource-created"
    assert created.owner_id == tsc.user_id

    new_style = TSC.WebhookItem()
    new_style.name = "tsc-new-style"
    new_style.url = receiver.url
    new_style.event = "webhook-event-user-promoted-admin"
    promoted = tsc.webhooks.create(new_style)
    assert promoted.event == "webhook-event-user-promoted-admin"

    listed, _ = tsc.webhooks.get()
    assert {"tsc-legacy", "tsc-new-style"} <= {w.name for w in listed}
    fetched = tsc.webhooks.get_by_id(created.id)
    assert fetched.name == "tsc-legacy" and fetched.url == receiver.url

    response = tsc.webhooks.test(created.id)
    assert response.status_code == 200
    result = ET.fromstring(response.content).find("t:webhookTestResult", NS)
    assert result.get("id") == created.id and result.get("status") == "200"
    assert result.find("t:body", NS).text == "ok"
    (arrived,) = receiver.wait_for(1)
    assert arrived.method == "POST" and arrived.body == b"{}"
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.headers["user-agent"].startswith("tabhooks/")

    tsc.webhooks.delete(created.id)
    tsc.webhooks.delete(promoted.id)
    with pytest.raises(TSC.ServerResponseError) as missing:
        tsc.webhooks.get_by_id(created.id)
    assert missing.value.code == "404060"


# ----------------------------------------------------------------------------- catalog


@pytest.mark.parametrize("dialect", ["xml", "json"])
@pytest.mark.parametrize("syntax", ["event-attribute", "webhook-source"])
@pytest.mark.parametrize("event", events.CATALOG, ids=lambda e: e.name)
def test_every_event_in_both_syntaxes_and_dialects(
    api: Api, event: events.Event, syntax: str, dialect: str
) -> None:
    name = f"{event.name}-{syntax}-{dialect}"
    kwargs = (
        {"event": event.name} if syntax == "event-attribute" else {"source": event.source_element}
    )
    body = _json_create(name, **kwargs) if dialect == "json" else _xml_create(name, **kwargs)
    created = api.call("POST", body=body, json_out=dialect == "json")
    assert created.status_code == 201, created.text
    if dialect == "json":
        webhook_id = created.json()["webhook"]["id"]
    else:
        webhook_id = _webhook(created).get("id")
    assert created.headers["location"].endswith(f"/sites/{api.site_id}/webhooks/{webhook_id}")

    as_xml = _webhook(api.call("GET", f"/{webhook_id}"))
    assert as_xml.get("event") == event.name
    assert as_xml.get("name") == name and as_xml.get("isEnabled") == "true"
    assert as_xml.get("statusChangeReason") == ""
    assert as_xml.get("createdAt").endswith("Z") and as_xml.get("updatedAt").endswith("Z")
    (source_child,) = list(as_xml.find("t:webhook-source", NS))
    assert source_child.tag == "{http://tableau.com/api}" + event.source_element
    http = as_xml.find("t:webhook-destination/t:webhook-destination-http", NS)
    assert http.get("method") == "POST" and http.get("url") == DEST
    assert (
        as_xml.find("t:owner", NS).get("id")
        and as_xml.find("t:owner", NS).get("name") == ADMIN_USERNAME
    )

    as_json = api.call("GET", f"/{webhook_id}", json_out=True).json()["webhook"]
    assert as_json["event"] == event.name and as_json["isEnabled"] is True
    assert as_json["webhook-source"] == {event.source_element: {}}
    assert api.call("DELETE", f"/{webhook_id}").status_code == 204


def test_tableau_postman_sends_source_name_in_event_attribute(api: Api) -> None:
    created = api.call(
        "POST",
        body=_json_create("postman-style", event="webhook-source-event-workbook-created"),
        json_out=True,
    )
    assert created.status_code == 201, created.text
    assert created.json()["webhook"]["event"] == "WorkbookCreated"


def test_label_deleted_documented_alias(api: Api) -> None:
    created = api.call(
        "POST", body=_xml_create("label-alias", source="webhook-source-event-label-LabelDeleted")
    )
    assert _webhook(created).get("event") == "LabelDeleted"


def test_list_json_shape_and_empty_list(api: Api) -> None:
    body = api.call("GET", json_out=True).json()
    assert isinstance(body["webhooks"].get("webhook", []), list)
    names = [w["name"] for w in body["webhooks"].get("webhook", [])]
    assert "label-alias" in names


# ----------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_xml_create("", event="WorkbookCreated"), "400000"),
        (
            '<tsRequest><webhook event="WorkbookCreated"><webhook-destination><webhook-destination-http method="POST" url="https://x.example.com/"/></webhook-destination></webhook></tsRequest>',
            "400000",
        ),
        (_xml_create("no-event"), "400000"),
        (_xml_create("bad-event", event="WorkbookExploded"), "400140"),
        (_xml_create("bad-source", source="webhook-source-event-nope"), "400140"),
        (
            _xml_create(
                "disagree", event="WorkbookCreated", source="webhook-source-event-workbook-deleted"
            ),
            "400000",
        ),
        (
            _xml_create("get-method")
            .replace('method="POST"', 'method="GET"')
            .replace('name="get-method"', 'name="get-method" event="WorkbookCreated"'),
            "400000",
        ),
        (_xml_create("relative", event="WorkbookCreated", url="/just/a/path"), "400141"),
        (_xml_create("ftp", event="WorkbookCreated", url="ftp://files.example.com/x"), "400141"),
        (_xml_create("no-url", event="WorkbookCreated", url=""), "400000"),
        (
            _xml_create(
                "enabled-reason",
                event="WorkbookCreated",
                extra=' isEnabled="true" statusChangeReason="why"',
            ),
            "400127",
        ),
        (_xml_create("bad-bool", event="WorkbookCreated", extra=' isEnabled="perhaps"'), "400000"),
        ("<tsRequest/>", "400000"),
        ("<tsRequest><webhook name='x' event='WorkbookCreated'/></tsRequest>", "400000"),
    ],
    ids=[
        "empty-name",
        "missing-name",
        "no-event",
        "unknown-event",
        "unknown-source",
        "event-mismatch",
        "method-not-post",
        "relative-url",
        "ftp-url",
        "empty-url",
        "enabled-with-reason",
        "bad-boolean",
        "no-webhook-element",
        "no-destination",
    ],
)
def test_create_rules(api: Api, body: str, code: str) -> None:
    response = api.call("POST", body=body)
    assert response.status_code == int(code[:3]), response.text
    assert _error_code(response) == code


def test_unknown_event_detail_lists_valid_names(api: Api) -> None:
    response = api.call("POST", body=_json_create("x", event="Nope"), json_out=True)
    detail = response.json()["error"]["detail"]
    assert all(event.name in detail for event in events.CATALOG)


def test_duplicate_name_conflicts(api: Api) -> None:
    assert api.call("POST", body=_xml_create("dup", event="WorkbookCreated")).status_code == 201
    response = api.call("POST", body=_xml_create("dup", event="WorkbookDeleted"))
    assert response.status_code == 409 and _error_code(response) == "409160"


def test_update_partial_disable_enable_and_string_booleans(api: Api) -> None:
    created = _webhook(api.call("POST", body=_xml_create("updatable", event="DatasourceCreated")))
    webhook_id = created.get("id")

    renamed = api.call(
        "PUT", f"/{webhook_id}", '<tsRequest><webhook name="updated-name"/></tsRequest>'
    )
    assert renamed.status_code == 200, renamed.text
    node = _webhook(renamed)
    assert node.get("name") == "updated-name" and node.get("event") == "DatasourceCreated"
    assert node.find("t:webhook-destination/t:webhook-destination-http", NS).get("url") == DEST

    disabled = api.call(
        "PUT", f"/{webhook_id}", json.dumps({"webhook": {"isEnabled": "false"}}), json_out=True
    )
    assert disabled.json()["webhook"]["isEnabled"] is False
    assert disabled.json()["webhook"]["statusChangeReason"] == "Webhook disabled by user"

    reason = api.call(
        "PUT",
        f"/{webhook_id}",
        '<tsRequest><webhook isEnabled="false" statusChangeReason="maintenance"/></tsRequest>',
    )
    assert _webhook(reason).get("statusChangeReason") == "maintenance"

    refused = api.call(
        "PUT",
        f"/{webhook_id}",
        json.dumps({"webhook": {"isEnabled": "true", "statusChangeReason": "x"}}),
    )
    assert refused.status_code == 400 and _error_code(refused) == "400127"

    enabled = api.call(
        "PUT",
        f"/{webhook_id}",
        json.dumps({"webhook": {"isEnabled": True, "statusChangeReason": ""}}),
        json_out=True,
    )
    assert enabled.json()["webhook"]["isEnabled"] is True
    assert enabled.json()["webhook"]["statusChangeReason"] == ""

    moved = api.call(
        "PUT",
        f"/{webhook_id}",
        _xml_create(
            "updated-name",
            event="webhook-source-event-datasource-deleted",
            url="https://new.example.com/h",
        ),
    )
    node = _webhook(moved)
    assert node.get("event") == "DatasourceDeleted"
    assert (
        node.find("t:webhook-destination/t:webhook-destination-http", NS).get("url")
        == "https://new.example.com/h"
    )


def test_update_needs_3_8_and_webhooks_need_3_6(api: Api) -> None:
    created = _webhook(api.call("POST", body=_xml_create("versioned", event="ViewDeleted")))
    old = api.call(
        "PUT", f"/{created.get('id')}", '<tsRequest><webhook name="v2"/></tsRequest>', version="3.7"
    )
    assert old.status_code == 404 and _error_code(old) == "404003"
    assert (
        api.call(
            "PUT",
            f"/{created.get('id')}",
            '<tsRequest><webhook name="v2"/></tsRequest>',
            version="3.8",
        ).status_code
        == 200
    )
    listing = api.call("GET", version="3.5")
    assert listing.status_code == 404 and _error_code(listing) == "404003"
    assert api.call("GET", version="3.6").status_code == 200


def test_update_and_delete_missing_webhook(api: Api) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert (
        _error_code(api.call("PUT", f"/{missing}", '<tsRequest><webhook name="x"/></tsRequest>'))
        == "404060"
    )
    assert _error_code(api.call("DELETE", f"/{missing}")) == "404060"
    assert _error_code(api.call("GET", f"/{missing}")) == "404060"
    test = api.call("GET", f"/{missing}/test")
    assert test.status_code == 400 and _error_code(test) == "400113"


def test_get_ignores_a_body(api: Api) -> None:
    created = _webhook(api.call("POST", body=_xml_create("with-body", event="WorkbookUpdated")))
    assert api.call("GET", f"/{created.get('id')}", "<tsRequest />").status_code == 200


def test_test_webhook_unreachable_destination(api: Api) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    created = _webhook(
        api.call(
            "POST",
            body=_xml_create(
                "dead-end", event="WorkbookCreated", url=f"http://127.0.0.1:{closed_port}/x"
            ),
        )
    )
    response = api.call("GET", f"/{created.get('id')}/test", json_out=True)
    assert response.status_code == 200
    result = response.json()["webhookTestResult"]
    assert result["status"] == "502"
    assert "connect" in result["body"]


def test_test_webhook_reports_destination_status_and_body(api: Api, receiver: Receiver) -> None:
    receiver.status, receiver.body = 418, b"I'm a teapot"
    created = _webhook(
        api.call("POST", body=_xml_create("teapot", event="WorkbookCreated", url=receiver.url))
    )
    result = ET.fromstring(api.call("GET", f"/{created.get('id')}/test").content).find(
        "t:webhookTestResult", NS
    )
    assert result.get("status") == "418" and result.find("t:body", NS).text == "I'm a teapot"


def test_non_admin_gets_403_and_other_sites_are_invisible(api: Api, server: ServerProcess) -> None:
    admin = {"X-Tableau-Auth": api.token}
    users = f"{server.base_url}/api/3.28/sites/{api.site_id}/users"
    user = ET.fromstring(
        httpx.post(
            users,
            content='<tsRequest><user name="hookviewer" siteRole="Explorer"/></tsRequest>',
            headers=admin,
        ).content
    ).find("t:user", NS)
    httpx.put(
        f"{users}/{user.get('id')}",
        content='<tsRequest><user password="pw-hookviewer"/></tsRequest>',
        headers=admin,
    ).raise_for_status()
    signin = httpx.post(
        f"{server.base_url}/api/3.28/auth/signin",
        content='<tsRequest><credentials name="hookviewer" password="pw-hookviewer"><site contentUrl=""/></credentials></tsRequest>',
    )
    viewer_token = ET.fromstring(signin.content).find("t:credentials", NS).get("token")
    for method, body in (("GET", None), ("POST", _xml_create("sneaky", event="WorkbookCreated"))):
        response = api.call(method, body=body, token=viewer_token)
        assert response.status_code == 403 and _error_code(response).startswith("403")

    other = httpx.post(
        f"{server.base_url}/api/3.28/sites",
        content='<tsRequest><site name="Hooks Elsewhere" contentUrl="hookselsewhere"/></tsRequest>',
        headers=admin,
    )
    other_id = ET.fromstring(other.content).find("t:site", NS).get("id")
    switched = httpx.post(
        f"{server.base_url}/api/3.28/auth/signin",
        content=f'<tsRequest><credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}"><site contentUrl="hookselsewhere"/></credentials></tsRequest>',
    )
    other_token = ET.fromstring(switched.content).find("t:credentials", NS).get("token")
    there = httpx.get(
        f"{server.base_url}/api/3.28/sites/{other_id}/webhooks",
        headers={"X-Tableau-Auth": other_token},
    )
    assert ET.fromstring(there.content).find("t:webhooks", NS) is not None
    assert list(ET.fromstring(there.content).find("t:webhooks", NS)) == []
    here = api.call("GET")
    some_id = ET.fromstring(here.content).find("t:webhooks/t:webhook", NS).get("id")
    cross = httpx.get(
        f"{server.base_url}/api/3.28/sites/{other_id}/webhooks/{some_id}",
        headers={"X-Tableau-Auth": other_token},
    )
    assert cross.status_code == 404
    cross_site = httpx.get(
        f"{server.base_url}/api/3.28/sites/{api.site_id}/webhooks/{some_id}",
        headers={"X-Tableau-Auth": other_token},
    )
    assert cross_site.status_code == 403
