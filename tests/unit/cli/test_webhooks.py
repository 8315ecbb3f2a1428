"""The webhook body follows the profile's API version; answers map to stable JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tabhooks import events
from tabhooks.cli.webhooks import webhook_element, webhook_json
from tabhooks.tableau.client import TableauClient


@pytest.mark.parametrize(
    ("version", "has_attribute", "has_source"), [("3.6", False, True), ("3.9", True, False)]
)
def test_webhook_element_names_the_event_as_the_version_expects(
    version: str, has_attribute: bool, has_source: bool
) -> None:
    with TableauClient("http://127.0.0.1:9", version) as client:
        node = webhook_element(
            client, name="n", event=events.BY_NAME["WorkbookCreated"], url="https://x/h"
        )
    assert (node.get("event") == "WorkbookCreated") is has_attribute
    source = node.find("webhook-source/webhook-source-event-workbook-created")
    assert (source is not None) is has_source
    http = node.find("webhook-destination/webhook-destination-http")
    assert http is not None and http.get("method") == "POST" and http.get("url") == "https://x/h"


def test_webhook_json_reads_the_legacy_source_when_event_is_absent() -> None:
    node = ET.fromstring(
        '<webhook xmlns="http://tableau.com/api" id="1" name="n" isEnabled="false" '
        'statusChangeReason="why"><webhook-source><webhook-source-event-label-LabelDeleted/>'
        '</webhook-source><webhook-destination><webhook-destination-http method="POST" '
        'url="https://x/h"/></webhook-destination><owner id="o" name="admin"/></webhook>'
    )
    found = webhook_json(node)
    assert found["event"] == "LabelDeleted"
    assert found["api_event"] == "webhook-source-event-label-deleted"
    assert (found["enabled"], found["status_change_reason"]) == (False, "why")
    assert (found["url"], found["owner_name"]) == ("https://x/h", "admin")
