"""Tableau's webhooks Postman collection, unmodified, under newman against the real server.

Tableau's webhooks guide tells users to drive the webhooks REST API with this collection
(tableau/rest-api-samples, ``postman/Postman-Collection-Tableau-Webhooks.json`` and its
environment file), so it is a compatibility contract: every request in it must work against
tabhooks exactly as shipped. The files are never edited; everything specific to this run is
passed with newman's own flags (``-e``, ``--env-var``, ``--folder``, ``--export-environment``).

How the collection constrains the run, and why the tests look the way they do:

- Its only scripts are the sign-in ones, which store ``tableau-auth-token`` and ``site-id`` in
  the environment. Nothing captures the webhook id, so the tests read it from the create
  response in newman's JSON report and hand it back with ``--env-var webhook-id=…``, as a
  Postman user copies it by hand. Each run's environment is exported and fed to the next run.
- Both folders hold the same request names and the items carry no ids, and ``--folder`` picks
  the first match depth-first, so single requests can be selected from the JSON folder only
  (asserted through the Accept header). The JSON folder therefore runs request by request in
  the order a user would click: sign in (password, then PAT), create (3.6 and 3.9 forms),
  list, get, test, update (3.8 and 3.9 forms), delete.
- The XML folder can only run as a whole, in its listed order: sign-ins, list, get, create,
  create (3.9), update (3.8), update (3.9), delete, test. Get, the updates, delete and test act
  on ``{{webhook-id}}``, which must therefore exist before the folder starts (seeded with the
  JSON folder's create); both creates and both updates use the one ``{{webhook-name}}``, so it
  is given as ``postman-xml {{$guid}}`` (Postman resolves the dynamic variable afresh in each
  request) because names are unique per site. Its last request, "Test a webhook", tests the
  webhook that the request before it, "Delete a webhook", has just deleted: that one request
  cannot succeed against any correct server, so it alone must fail, with a Tableau error body
  (tabhooks answers 400113, Tableau's code for testing a missing webhook); the webhook test
  endpoint is exercised through the JSON folder instead, with a real POST to a receiver.
- The collection has no sign-out request, so none is run.

newman comes from ``scripts/lib/newman.sh`` (``install_newman``, run by ``scripts/test``), which
exports ``TABHOOKS_NEWMAN``. Without newman the tests skip, except under ``CI=true``, where a
missing tool must not pass silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.receiver import Receiver
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)

REPO = Path(__file__).resolve().parents[2]
COLLECTION_FILE = "Postman-Collection-Tableau-Webhooks.json"
ENVIRONMENT_FILE = "Postman-Environment-Tableau-Webhooks.json"
# The project's shared acceptance material sits beside the checkout (as in CI).
COLLECTION_DIRS = (REPO.parent / "shared" / "acceptance" / "postman" / "tableau-rest-api-samples",)
# Read at import time: the session-wide ``_clean_environ`` fixture removes every TABHOOKS_*
# variable before the first test runs. The project-local install is the fallback.
NEWMAN = os.environ.get("TABHOOKS_NEWMAN") or str(REPO / ".tools/node_modules/.bin/newman")
NEWMAN_TIMEOUT_S = 180
EVENT_SOURCE = "webhook-source-event-workbook-created"  # both the 3.6 element and 3.9 attribute
NS = {"t": "http://tableau.com/api"}

XML_FOLDER_ORDER = [
    "Sign in (username and password)",
    "Sign in (personal access token)",
    "List webhooks",
    "Get a webhook",
    "Create a webhook",
    "Create a webhook (2020.3+)",
    "Update a webhook (2020.2+)",
    "Update a webhook (2020.3+)",
    "Delete a webhook",
    "Test a webhook",
]


@dataclass(frozen=True)
class Execution:
    """One request newman sent, as its JSON report records it."""

    name: str
    method: str
    path: tuple[str, ...]
    accept: str
    status: int
    body: str

    @property
    def url_path(self) -> str:
        return "/" + "/".join(self.path)

    def json(self) -> Any:
        return json.loads(self.body)

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


@dataclass(frozen=True)
class Report:
    """What one newman run did: its requests, final environment, failures and console output."""

    executions: list[Execution]
    environment: dict[str, str]
    failures: list[object]
    error: object
    returncode: int
    output: str

    def one(self, name: str) -> Execution:
        matches = [e for e in self.executions if e.name == name]
        assert len(matches) == 1, f"expected one '{name}' in the run:\n{self.output}"
        return matches[0]


def _require(available: bool, why: str) -> None:
    """Skip when a tool or file is missing, but fail under CI, where it must be provided."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}; under CI=true scripts/test must provide it (install_newman)")
    pytest.skip(why)


@dataclass(frozen=True)
class Tools:
    """The newman binary and the collection's two files, found before any server starts."""

    newman: str
    collection: Path
    environment: Path


@pytest.fixture(scope="session")
def tools() -> Tools:
    """Session-scoped so that a skip (or CI failure) comes before a server is started."""
    _require(Path(NEWMAN).is_file(), f"newman not found at {NEWMAN} (run install_newman)")
    for directory in COLLECTION_DIRS:
        if (directory / COLLECTION_FILE).is_file() and (directory / ENVIRONMENT_FILE).is_file():
            return Tools(NEWMAN, directory / COLLECTION_FILE, directory / ENVIRONMENT_FILE)
    _require(False, f"Tableau's webhooks Postman collection not found in {COLLECTION_DIRS}")
    raise AssertionError("unreachable")


def _header(headers: list[dict[str, str]], name: str) -> str:
    return next(
        (h.get("value", "") for h in headers if h.get("key", "").lower() == name.lower()), ""
    )


def _parse_report(path: Path, returncode: int, output: str) -> Report:
    assert path.is_file(), f"newman exited {returncode} without a report:\n{output}"
    raw = json.loads(path.read_text(encoding="utf-8"))
    executions = []
    for execution in raw["run"]["executions"]:
        request, response = execution["request"], execution.get("response") or {}
        stream = response.get("stream") or {}
        executions.append(
            Execution(
                name=execution["item"]["name"],
                method=request["method"],
                path=tuple(request["url"].get("path") or ()),
                accept=_header(request.get("header") or [], "Accept"),
                status=int(response.get("code") or 0),
                body=bytes(stream.get("data") or []).decode("utf-8"),
            )
        )
    environment = {v["key"]: str(v.get("value", "")) for v in raw["environment"]["values"]}
    run = raw["run"]
    return Report(executions, environment, run["failures"], run["error"], returncode, output)


class Newman:
    """Runs parts of the unmodified collection, carrying the environment from run to run."""

    def __init__(
        self, tools: Tools, server: ServerProcess, receiver: Receiver, workdir: Path
    ) -> None:
        self.binary = tools.newman
        self.collection = tools.collection
        self.environment = tools.environment  # the pristine file, then each run's export
        self.workdir = workdir
        self.runs = 0
        # The values a user types into the environment; everything else the collection sets.
        self.values = {
            "server": server.base_url,
            "content-url": "",
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
            "pat-name": ADMIN_PAT_NAME,
            "pat-secret": ADMIN_PAT_SECRET,
            "webhook-event": EVENT_SOURCE,
            "webhook-url": receiver.url,
            "webhook-isenabled": "true",
            "webhook-statuschangereason": "",
        }

    def run(self, *entries: str, **env_vars: str) -> Report:
        """Run the named folder or requests (in collection order) with extra ``--env-var``s.

        Keyword names use ``_`` for the collection's ``-``: ``webhook_id`` is ``webhook-id``.
        """
        self.runs += 1
        report_path = self.workdir / f"report-{self.runs}.json"
        exported = self.workdir / f"environment-{self.runs}.json"
        values = {**self.values, **{k.replace("_", "-"): v for k, v in env_vars.items()}}
        command = [self.binary, "run", str(self.collection), "-e", str(self.environment)]
        for entry in entries:
            command += ["--folder", entry]
        for key, value in values.items():
            command += ["--env-var", f"{key}={value}"]
        command += [
            *("--export-environment", str(exported)),
            *("--reporters", "cli,json", "--reporter-json-export", str(report_path)),
            *("--color", "off", "--disable-unicode"),
            *("--timeout-request", "30000", "--timeout", str((NEWMAN_TIMEOUT_S - 30) * 1000)),
        ]
        # Only 127.0.0.1 is contacted: keep any proxy configured on the machine out of it.
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        done = subprocess.run(
            command,
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=NEWMAN_TIMEOUT_S,
            check=False,
        )
        report = _parse_report(report_path, done.returncode, done.stdout + done.stderr)
        if exported.is_file():
            self.environment = exported
        return report


def _check(
    report: Report, dialect: str, allowed: Mapping[str, set[int]] | None = None
) -> list[Execution]:
    """No script failure, every request resolved and 2xx (bar ``allowed``), in ``dialect``."""
    allowed = allowed or {}
    assert report.executions, f"nothing ran:\n{report.output}"
    # Statuses first: a non-2xx is the likeliest cause of a script failure after it.
    for execution in report.executions:
        where = f"{execution.method} {execution.url_path} ({execution.name})"
        assert execution.accept == f"application/{dialect}", (
            f"{where} is not from the {dialect} folder"
        )
        # An unset variable leaves "{{name}}" in the URL; an empty one leaves an empty segment.
        assert not any("{{" in part or not part for part in execution.path), where
        if execution.name in allowed:
            assert execution.status in allowed[execution.name], f"{where}: {execution.status}"
        else:
            assert 200 <= execution.status < 300, (
                f"{where} answered {execution.status}: {execution.body}\n{report.output}"
            )
    assert report.error is None, f"newman run error: {report.error}\n{report.output}"
    assert report.failures == [], f"script/assertion failures:\n{report.output}"
    assert report.returncode == 0, f"newman exited {report.returncode}:\n{report.output}"
    return report.executions


def _signed_in(report: Report) -> tuple[str, str]:
    """(token, site id) the collection's sign-in script stored; both must be real values."""
    token, site_id = report.environment["tableau-auth-token"], report.environment["site-id"]
    assert token and site_id, f"sign-in script stored no token/site id:\n{report.output}"
    assert token not in ("undefined", "null") and site_id not in ("undefined", "null")
    return token, site_id


def _webhook_json(execution: Execution) -> dict[str, object]:
    webhook = execution.json()["webhook"]
    assert isinstance(webhook, dict), execution.body
    return webhook


def _webhook_xml(execution: Execution) -> ET.Element:
    node = execution.xml().find("t:webhook", NS)
    assert node is not None, execution.body
    return node


def _destination_json(webhook: Mapping[str, object]) -> object:
    destination = webhook["webhook-destination"]
    assert isinstance(destination, dict)
    return destination["webhook-destination-http"]


def _listed_ids(newman: Newman) -> set[str]:
    """Webhook ids the JSON folder's "List webhooks" returns now."""
    (listing,) = _check(newman.run("List webhooks"), "json")
    webhooks = listing.json()["webhooks"]
    assert isinstance(webhooks, dict), listing.body
    return {str(w["id"]) for w in webhooks.get("webhook", [])}


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture()
def newman(tools: Tools, server: ServerProcess, receiver: Receiver, tmp_path: Path) -> Newman:
    return Newman(tools, server, receiver, tmp_path)


def _sign_in_both_ways(newman: Newman) -> str:
    """Run the JSON folder's two sign-ins; returns the site id their scripts captured."""
    by_password = newman.run("Sign in (username and password)")
    _check(by_password, "json")
    token_1, site_id = _signed_in(by_password)
    by_pat = newman.run("Sign in (personal access token)")
    _check(by_pat, "json")
    token_2, site_id_2 = _signed_in(by_pat)
    assert site_id_2 == site_id and token_2 != token_1, by_pat.output
    return site_id


def test_json_folder_request_by_request(newman: Newman, receiver: Receiver) -> None:
    site_id = _sign_in_both_ways(newman)

    created: dict[str, str] = {}
    for request, name in (
        ("Create a webhook", "postman-json-36"),
        ("Create a webhook (2020.3+)", "postman-json-39"),
    ):
        (create,) = _check(newman.run(request, webhook_name=name), "json")
        assert create.status == 201 and create.path[3] == site_id, create.body
        webhook = _webhook_json(create)
        assert webhook["name"] == name and webhook["event"] == "WorkbookCreated", create.body
        assert webhook["webhook-source"] == {EVENT_SOURCE: {}}, create.body
        assert _destination_json(webhook) == {"method": "POST", "url": receiver.url}
        assert webhook["id"], create.body
        created[request] = str(webhook["id"])

    for number, webhook_id in enumerate(created.values(), start=1):
        # List and Get run in one newman run, in the collection's order.
        listing, get = _check(
            newman.run("List webhooks", "Get a webhook", webhook_id=webhook_id), "json"
        )
        assert webhook_id in listing.body and get.path[-1] == webhook_id
        assert _webhook_json(get)["id"] == webhook_id

        (test,) = _check(newman.run("Test a webhook", webhook_id=webhook_id), "json")
        result = test.json()["webhookTestResult"]
        assert result["id"] == webhook_id and str(result["status"]) == "200", test.body
        arrived = receiver.wait_for(number)
        assert arrived[-1].method == "POST" and arrived[-1].path == "/hook"

        # 3.8 form: isEnabled is the *string* "false" with a reason, disabling the webhook.
        (pause,) = _check(
            newman.run(
                "Update a webhook (2020.2+)",
                webhook_id=webhook_id,
                webhook_name=f"postman-json-paused-{number}",
                webhook_isenabled="false",
                webhook_statuschangereason="paused by newman",
            ),
            "json",
        )
        paused = _webhook_json(pause)
        assert paused["name"] == f"postman-json-paused-{number}", pause.body
        assert paused["isEnabled"] is False, pause.body
        assert paused["statusChangeReason"] == "paused by newman", pause.body

        # 3.9 form: the event attribute carries the webhook-source name; re-enable.
        (resume,) = _check(
            newman.run(
                "Update a webhook (2020.3+)",
                webhook_id=webhook_id,
                webhook_name=f"postman-json-resumed-{number}",
            ),
            "json",
        )
        resumed = _webhook_json(resume)
        assert resumed["name"] == f"postman-json-resumed-{number}", resume.body
        assert resumed["isEnabled"] is True and resumed["event"] == "WorkbookCreated"

        (delete,) = _check(newman.run("Delete a webhook", webhook_id=webhook_id), "json")
        assert delete.status == 204 and delete.path[-1] == webhook_id

    assert not _listed_ids(newman) & set(created.values())


def test_xml_folder_as_a_whole(newman: Newman, receiver: Receiver) -> None:
    # The folder's Get/Update/Delete/Test act on {{webhook-id}} before its creates run.
    signed_in = newman.run("Sign in (username and password)")
    _check(signed_in, "json")
    json_token, _ = _signed_in(signed_in)
    (seed,) = _check(
        newman.run("Create a webhook (2020.3+)", webhook_name="postman-xml-seed"), "json"
    )
    seed_id = str(_webhook_json(seed)["id"])

    # "Test a webhook" comes right after "Delete a webhook" on the same {{webhook-id}}: it
    # must fail, with the Tableau error for testing a missing webhook (400113) or a 404.
    report = newman.run("XML", webhook_id=seed_id, webhook_name="postman-xml {{$guid}}")
    _check(report, "xml", allowed={"Test a webhook": {400, 404}})
    assert [e.name for e in report.executions] == XML_FOLDER_ORDER, report.output
    xml_token, site_id = _signed_in(report)
    assert xml_token != json_token, "the XML sign-in scripts did not store their token"
    assert all(e.path[3] == site_id for e in report.executions[2:]), report.output

    listed = report.one("List webhooks").xml().findall("t:webhooks/t:webhook", NS)
    assert seed_id in {w.get("id") for w in listed}, report.one("List webhooks").body
    assert _webhook_xml(report.one("Get a webhook")).get("id") == seed_id

    created = []
    for request in ("Create a webhook", "Create a webhook (2020.3+)"):
        execution = report.one(request)
        webhook = _webhook_xml(execution)
        assert execution.status == 201 and webhook.get("id"), execution.body
        assert (webhook.get("name") or "").startswith("postman-xml "), execution.body
        assert webhook.get("event") == "WorkbookCreated", execution.body
        assert webhook.find(f"t:webhook-source/t:{EVENT_SOURCE}", NS) is not None
        http = webhook.find("t:webhook-destination/t:webhook-destination-http", NS)
        assert http is not None and http.get("url") == receiver.url, execution.body
        created.append(str(webhook.get("id")))

    for request in ("Update a webhook (2020.2+)", "Update a webhook (2020.3+)"):
        webhook = _webhook_xml(report.one(request))
        assert webhook.get("id") == seed_id and webhook.get("isEnabled") == "true"
        assert (webhook.get("name") or "").startswith("postman-xml ")
    assert report.one("Delete a webhook").status == 204
    failed_test = report.one("Test a webhook")
    error = failed_test.xml().find("t:error", NS)
    assert error is not None and (error.get("code") or "").startswith(str(failed_test.status))

    # The webhooks the XML creates made work: test them (a real POST each), then delete them.
    for number, webhook_id in enumerate(created, start=1):
        (test,) = _check(newman.run("Test a webhook", webhook_id=webhook_id), "json")
        assert test.json()["webhookTestResult"]["id"] == webhook_id, test.body
        assert receiver.wait_for(number)[-1].method == "POST"
        _check(newman.run("Delete a webhook", webhook_id=webhook_id), "json")
    assert not _listed_ids(newman) & {seed_id, *created}
