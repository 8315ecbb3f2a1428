"""Schedules and tasks through unmodified TSC (issue 17): ``schedules.create/get/get_by_id/
update/delete/add_to_schedule/get_extract_refresh_tasks`` and ``tasks.get/get_by_id/run/create/
delete``, the calls TSC's samples ``create_schedules.py``, ``create_extract_task.py`` and
``refresh_tasks.py`` make, Tableau's rules and error codes, and both dialects on the wire."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC
from defusedxml.ElementTree import fromstring

from tests.acceptance.test_cli import signed_in_cli
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)
from tests.support.tableau_samples import connection_xml, datasource_xml, workbook_xml

NS = {"t": "http://tableau.com/api"}


@pytest.fixture()
def tsc(server: ServerProcess) -> Iterator[TSC.Server]:
    """Signed in with the bootstrap admin's personal access token, as the samples sign in."""
    tsc_server = TSC.Server(server.base_url, use_server_version=False)
    tsc_server.use_server_version()
    tsc_server.auth.sign_in(TSC.PersonalAccessTokenAuth(ADMIN_PAT_NAME, ADMIN_PAT_SECRET, ""))
    yield tsc_server
    tsc_server.auth.sign_out()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _project(tsc: TSC.Server) -> str:
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    return str(tsc.projects.get(options)[0][0].id)


def _csv_datasource(tsc: TSC.Server, tmp_path: Path) -> TSC.DatasourceItem:
    data = tmp_path / f"{uuid.uuid4().hex}.csv"
    data.write_text("id,amount\n1,2\n")
    name = _unique("orders")
    tds = tmp_path / f"{name}.tds"
    tds.write_bytes(datasource_xml(connection_xml("textscan", filename=str(data)), name))
    item = TSC.DatasourceItem(_project(tsc), name=name)
    return tsc.datasources.publish(item, str(tds), TSC.Server.PublishMode.CreateNew)


def _csv_workbook(tsc: TSC.Server, tmp_path: Path) -> TSC.WorkbookItem:
    data = tmp_path / f"{uuid.uuid4().hex}.csv"
    data.write_text("id,amount\n1,2\n")
    twb = tmp_path / f"{_unique('wb')}.twb"
    twb.write_bytes(workbook_xml(connection_xml("textscan", filename=str(data))))
    item = TSC.WorkbookItem(_project(tsc), name=_unique("Sales"))
    return tsc.workbooks.publish(item, str(twb), TSC.Server.PublishMode.CreateNew)


def _extract_schedule(tsc: TSC.Server) -> TSC.ScheduleItem:
    interval = TSC.WeeklyInterval(time(19, 15), TSC.IntervalItem.Day.Monday)
    item = TSC.ScheduleItem(
        _unique("weekly"), 70, TSC.ScheduleItem.Type.Extract, "Serial", interval
    )
    return tsc.schedules.create(item)


def test_create_schedules_of_every_frequency_then_read_them_back(tsc: TSC.Server) -> None:
    """What ``create_schedules.py`` does: one schedule of each frequency, then get_by_id."""
    hourly = tsc.schedules.create(
        TSC.ScheduleItem(
            _unique("Hourly-Schedule"), 50, TSC.ScheduleItem.Type.Extract,
            TSC.ScheduleItem.ExecutionOrder.Parallel,
            TSC.HourlyInterval(start_time=time(2, 30), end_time=time(23, 0), interval_value=2),
        )
    )  # fmt: skip
    daily = tsc.schedules.create(
        TSC.ScheduleItem(
            _unique("Daily-Schedule"), 60, TSC.ScheduleItem.Type.Subscription,
            TSC.ScheduleItem.ExecutionOrder.Serial, TSC.DailyInterval(start_time=time(5)),
        )
    )  # fmt: skip
    weekly = tsc.schedules.create(
        TSC.ScheduleItem(
            _unique("Weekly-Schedule"), 70, TSC.ScheduleItem.Type.Extract,
            TSC.ScheduleItem.ExecutionOrder.Serial,
            TSC.WeeklyInterval(
                time(19, 15), TSC.IntervalItem.Day.Monday, TSC.IntervalItem.Day.Wednesday,
                TSC.IntervalItem.Day.Friday,
            ),
        )
    )  # fmt: skip
    monthly = tsc.schedules.create(
        TSC.ScheduleItem(
            _unique("Monthly-Schedule"), 80, TSC.ScheduleItem.Type.Subscription,
            TSC.ScheduleItem.ExecutionOrder.Parallel,
            TSC.MonthlyInterval(start_time=time(23, 30), interval_value=15),
        )
    )  # fmt: skip
    for created in (hourly, daily, weekly, monthly):
        assert created.id and created.state == "Active" and created.next_run_at is not None
    assert hourly.interval_item.interval == ("2",)
    assert (hourly.interval_item.start_time, hourly.interval_item.end_time) == (
        time(2, 30),
        time(23, 0),
    )
    # Every 2 hours from 02:30 UTC: the next run is at half past an even hour.
    assert hourly.next_run_at.minute == 30 and hourly.next_run_at.hour % 2 == 0
    assert daily.next_run_at.hour == 5 and daily.execution_order == "Serial"
    assert monthly.next_run_at.day == 15 and monthly.next_run_at.hour == 23

    fetched = tsc.schedules.get_by_id(weekly.id)
    assert fetched.name == weekly.name and fetched.priority == 70
    assert fetched.interval_item.interval == ("Monday", "Wednesday", "Friday")
    assert fetched.next_run_at.weekday() in (0, 2, 4)

    listed, pagination = tsc.schedules.get()
    ids = {s.id for s in listed}
    assert {hourly.id, daily.id, weekly.id, monthly.id} <= ids
    assert pagination.total_available == len(listed)
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", weekly.name))
    (only,), _ = tsc.schedules.get(req_options=options)
    assert only.id == weekly.id


def test_update_suspends_and_changes_the_frequency_and_delete_removes(tsc: TSC.Server) -> None:
    weekly = _extract_schedule(tsc)
    weekly.priority = 90
    weekly.state = TSC.ScheduleItem.State.Suspended
    weekly.interval_item = TSC.WeeklyInterval(time(7), "Monday", "Friday")
    updated = tsc.schedules.update(weekly)
    assert updated.priority == 90
    fetched = tsc.schedules.get_by_id(weekly.id)
    assert fetched.state == "Suspended" and fetched.next_run_at is None
    assert fetched.interval_item.interval == ("Monday", "Friday")
    assert fetched.interval_item.start_time == time(7)

    fetched.state = TSC.ScheduleItem.State.Active
    resumed = tsc.schedules.update(fetched)
    assert resumed.next_run_at is not None and resumed.next_run_at.hour == 7

    tsc.schedules.delete(weekly.id)
    with pytest.raises(TSC.ServerResponseError) as gone:
        tsc.schedules.get_by_id(weekly.id)
    assert gone.value.code == "404026"


def test_tableau_rules_and_error_codes(tsc: TSC.Server, server: ServerProcess) -> None:
    weekly = _extract_schedule(tsc)
    twin = TSC.ScheduleItem(
        weekly.name, 50, "Extract", "Parallel", TSC.DailyInterval(start_time=time(1))
    )
    with pytest.raises(TSC.ServerResponseError) as taken:
        tsc.schedules.create(twin)
    assert taken.value.code == "409021"

    url = f"{server.api()}/schedules"
    headers = {"X-Tableau-Auth": tsc.auth_token}
    bad = {
        "every 3 hours": ("Hourly", 'start="02:00:00" end="23:00:00"', '<interval hours="3"/>'),
        "every 15 min off the hour": (
            "Hourly",
            'start="02:30:00" end="23:00:00"',
            '<interval minutes="15"/>',
        ),
        "hourly without an end": ("Hourly", 'start="02:00:00"', '<interval hours="2"/>'),
        "weekly without a day": ("Weekly", 'start="02:00:00"', ""),
        "month day 32": ("Monthly", 'start="02:00:00"', '<interval monthDay="32"/>'),
        "no such weekday": ("Weekly", 'start="02:00:00"', '<interval weekDay="Funday"/>'),
        "a time that is not one": ("Daily", 'start="25:00:00"', ""),
        "no such frequency": ("Yearly", 'start="02:00:00"', ""),
    }
    for why, (frequency, window, intervals) in bad.items():
        body = (
            f'<tsRequest><schedule name="{_unique("bad")}" priority="50" type="Extract" '
            f'frequency="{frequency}" executionOrder="Parallel"><frequencyDetails {window}>'
            f"<intervals>{intervals}</intervals></frequencyDetails></schedule></tsRequest>"
        )
        answer = httpx.post(url, content=body, headers=headers)
        assert answer.status_code == 400, (why, answer.text)
        assert fromstring(answer.content).find("t:error", NS).get("code") == "400000", why

    # A name longer than the column was a DataError (a 500) on PostgreSQL.
    long_name = httpx.post(
        url,
        content=f'<tsRequest><schedule name="{"n" * 256}" type="Extract" frequency="Daily">'
        '<frequencyDetails start="01:00:00"/></schedule></tsRequest>',
        headers=headers,
    )
    assert long_name.status_code == 400, long_name.text

    with pytest.raises(TSC.ServerResponseError) as missing:
        tsc.schedules.get_by_id(str(uuid.uuid4()))
    assert missing.value.code == "404026"
    with pytest.raises(TSC.ServerResponseError) as no_task:
        tsc.tasks.get_by_id(str(uuid.uuid4()))
    assert no_task.value.code == "404028"


def test_add_content_to_schedules_then_list_get_run_and_delete_tasks(
    tsc: TSC.Server, tmp_path: Path
) -> None:
    """``refresh_tasks.py`` list / info / run against tasks added with add_to_schedule."""
    schedule = _extract_schedule(tsc)
    datasource = _csv_datasource(tsc, tmp_path)
    workbook = _csv_workbook(tsc, tmp_path)
    assert tsc.schedules.add_to_schedule(schedule.id, datasource=datasource) == []
    assert tsc.schedules.add_to_schedule(schedule.id, workbook=workbook) == []
    with pytest.raises(TSC.ServerResponseError) as again:
        tsc.schedules.add_to_schedule(schedule.id, datasource=datasource)
    assert again.value.code == "409000"

    extracts, pagination = tsc.schedules.get_extract_refresh_tasks(schedule.id)
    assert pagination.total_available == 2
    assert {(e.datasource_id, e.workbook_id) for e in extracts} == {
        (datasource.id, None),
        (None, workbook.id),
    }

    tasks, _ = tsc.tasks.get()
    mine = {t.target.id: t for t in tasks if t.schedule_id == schedule.id}
    assert set(mine) == {datasource.id, workbook.id}
    task = mine[datasource.id]
    assert task.task_type == TSC.TaskItem.Type.ExtractRefresh
    assert task.target.type == "datasource" and task.priority == 70
    assert task.schedule_item.name == schedule.name

    info = tsc.tasks.get_by_id(task.id)
    assert info.id == task.id and info.schedule_item.interval_item.interval == ("Monday",)

    answer = tsc.tasks.run(info)
    job_xml = fromstring(answer).find("t:job", NS)
    assert job_xml.get("type") == "RefreshExtract"
    job = tsc.jobs.wait_for_job(job_xml.get("id"), timeout=30)
    assert job.finish_code == 0
    assert tsc.tasks.get_by_id(task.id).last_run_at is not None

    tsc.tasks.delete(task.id)
    with pytest.raises(TSC.ServerResponseError) as gone:
        tsc.tasks.get_by_id(task.id)
    assert gone.value.code == "404028"
    # Deleting the schedule deletes its remaining task.
    tsc.schedules.delete(schedule.id)
    assert workbook.id not in {t.target.id for t in tsc.tasks.get()[0]}


def test_a_subscription_schedule_takes_no_refresh(tsc: TSC.Server, tmp_path: Path) -> None:
    subscription = tsc.schedules.create(
        TSC.ScheduleItem(
            _unique("subs"), 50, "Subscription", "Parallel", TSC.DailyInterval(time(6))
        )
    )
    datasource = _csv_datasource(tsc, tmp_path)
    with pytest.raises(TSC.ServerResponseError) as refused:
        tsc.schedules.add_to_schedule(subscription.id, datasource=datasource)
    assert refused.value.code == "400000"


def test_create_cloud_extract_task_with_its_own_schedule(tsc: TSC.Server, tmp_path: Path) -> None:
    """What ``create_extract_task.py workbook <id>`` does: a monthly refresh on the 15th."""
    workbook = _csv_workbook(tsc, tmp_path)
    own = TSC.ScheduleItem(None, None, None, None, TSC.MonthlyInterval(time(23, 30), 15))
    target = TSC.Target(tsc.workbooks.get_by_id(workbook.id).id, "workbook")
    item = TSC.TaskItem(None, "FullRefresh", None, None, None, own, None, target)
    answer = fromstring(tsc.tasks.create(item))
    refresh = answer.find("t:extractRefresh", NS)
    assert refresh.get("type") == "FullRefresh"
    assert refresh.find("t:workbook", NS).get("id") == workbook.id
    schedule = answer.find("t:schedule", NS)
    assert schedule.get("frequency") == "Monthly"
    assert schedule.find("t:frequencyDetails", NS).get("start") == "23:30:00"
    assert schedule.get("nextRunAt").endswith("T23:30:00Z")

    task = tsc.tasks.get_by_id(refresh.get("id"))
    assert task.target.id == workbook.id
    assert task.schedule_item.interval_item.interval == ("15",)
    # A Cloud task's schedule is its own: not among the server schedules.
    assert task.schedule_item.id is None
    tsc.tasks.delete(task.id)


def test_both_dialects_for_schedules_and_tasks(server: ServerProcess, tsc: TSC.Server) -> None:
    headers = {"X-Tableau-Auth": tsc.auth_token, "Accept": "application/json"}
    body = {
        "schedule": {
            "name": _unique("json"),
            "priority": "40",
            "type": "Extract",
            "frequency": "Hourly",
            "executionOrder": "Parallel",
            "frequencyDetails": {
                "start": "00:00:00",
                "end": "12:00:00",
                "intervals": {"interval": [{"minutes": "30"}, {"weekDay": "Tuesday"}]},
            },
        }
    }
    created = httpx.post(f"{server.api()}/schedules", json=body, headers=headers)
    assert created.status_code == 201, created.text
    schedule = created.json()["schedule"]
    assert schedule["frequencyDetails"]["intervals"]["interval"] == [
        {"minutes": "30"},
        {"weekDay": "Tuesday"},
    ]
    assert schedule["priority"] == "40" and schedule["state"] == "Active"
    listed = httpx.get(f"{server.api()}/schedules", headers=headers).json()
    assert schedule["id"] in {s["id"] for s in listed["schedules"]["schedule"]}
    tasks = httpx.get(
        f"{server.api()}/sites/{tsc.site_id}/tasks/extractRefreshes", headers=headers
    ).json()
    assert "tasks" in tasks and "pagination" in tasks


def test_cli_schedules_and_tasks(
    server: ServerProcess,
    tsc: TSC.Server,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``tabhooks schedules list|create|run|suspend|resume`` and ``tabhooks tasks list|run``."""
    cli = signed_in_cli(server, tmp_path_factory.mktemp("config") / "tabhooks")
    name = _unique("cli-weekly")
    created = cli.json(
        "schedules", "create", name, "--frequency", "Weekly", "--start", "06:00:00",
        "--day", "Monday", "--day", "Thursday", "--priority", "30",
    )  # fmt: skip
    assert created["name"] == name and created["state"] == "Active"
    assert created["intervals"] == [{"weekDay": "Monday"}, {"weekDay": "Thursday"}]
    assert created["next_run_at"].endswith("T06:00:00Z")
    assert name in {s["name"] for s in cli.json("schedules", "list")}
    assert name in cli.run("schedules", "list").stdout

    datasource = _csv_datasource(tsc, tmp_path)
    tsc.schedules.add_to_schedule(created["id"], datasource=datasource)
    (task,) = [t for t in cli.json("tasks", "list") if t["target_id"] == datasource.id]
    assert task["schedule_name"] == name and task["next_run_at"] == created["next_run_at"]

    (ran,) = cli.json("schedules", "run", name)
    assert ran["task_id"] == task["id"] and ran["type"] == "RefreshExtract"
    assert tsc.jobs.wait_for_job(ran["job_id"], timeout=30).finish_code == 0
    again = cli.json("tasks", "run", task["id"])
    assert tsc.jobs.wait_for_job(again["job_id"], timeout=30).finish_code == 0

    suspended = cli.json("schedules", "suspend", name)
    assert suspended["state"] == "Suspended" and suspended["next_run_at"] is None
    resumed = cli.json("schedules", "resume", created["id"])
    assert resumed["state"] == "Active" and resumed["next_run_at"] == created["next_run_at"]
    missing = cli.run("schedules", "suspend", "no-such-schedule", expect=None)
    assert missing.returncode != 0 and "no schedule" in missing.stderr + missing.stdout


def test_dashboard_shows_a_data_sources_schedules_and_what_runs_next(
    server: ServerProcess, tsc: TSC.Server, tmp_path: Path
) -> None:
    schedule = _extract_schedule(tsc)
    datasource = _csv_datasource(tsc, tmp_path)
    tsc.schedules.add_to_schedule(schedule.id, datasource=datasource)
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        form = browser.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        browser.post(
            "/ui/login",
            data={"csrf": csrf[1], "name": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "site": ""},
        )
        page = browser.get(f"/ui/content/datasources/{datasource.id}")
        assert page.status_code == 200
        section = page.text[page.text.index('id="schedules"') :]
        assert schedule.name in section and "Weekly from 19:15:00" in section
        assert schedule.next_run_at is not None
        assert schedule.next_run_at.strftime("%Y-%m-%dT%H:%M:%S") in section  # the next run
        listing = browser.get("/ui/schedules")
        assert listing.status_code == 200
        assert datasource.name in listing.text and schedule.name in listing.text
        assert 'id="server-schedules"' in listing.text  # the server administrator's view
