"""What a refresh may reach: connection files below the roots, database hosts in the networks."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tabhooks.config import Settings
from tabhooks.jobs.reach import ReachPolicy, Unreachable


@pytest.fixture
def tree(tmp_path: Path) -> tuple[ReachPolicy, Path, Path]:
    """A root holding ``data.csv``, and ``outside.csv`` beside the root."""
    root, outside = tmp_path / "root", tmp_path / "outside.csv"
    root.mkdir()
    (root / "data.csv").write_text("a\n")
    outside.write_text("secret\n")
    return ReachPolicy(file_roots=(root.resolve(),)), root, outside


def test_a_file_below_a_root_resolves_to_its_real_path(
    tree: tuple[ReachPolicy, Path, Path],
) -> None:
    policy, root, _ = tree
    (root / "sub").mkdir()
    assert (
        policy.connection_file(str(root / "sub" / ".." / "data.csv"))
        == (root / "data.csv").resolve()
    )


@pytest.mark.parametrize("name", ["/etc/passwd", "/etc/no-such-file-7f3a", "/", "/etc"])
def test_a_file_outside_every_root_is_refused_alike_whether_it_exists_or_not(
    tree: tuple[ReachPolicy, Path, Path], name: str
) -> None:
    policy, _, _ = tree
    with pytest.raises(Unreachable) as refused:
        policy.connection_file(name)
    assert str(refused.value) == (
        f"{name} is outside the folders this server reads connection files from "
        "(TABHOOKS_FILE_CONNECTION_ROOTS)"
    )


def test_dot_dot_out_of_a_root_is_refused(tree: tuple[ReachPolicy, Path, Path]) -> None:
    policy, root, outside = tree
    with pytest.raises(Unreachable, match="outside the folders"):
        policy.connection_file(f"{root}/../{outside.name}")


def test_a_symlink_inside_a_root_pointing_outside_is_refused(
    tree: tuple[ReachPolicy, Path, Path],
) -> None:
    policy, root, outside = tree
    (root / "escape.csv").symlink_to(outside)
    (root / "escape-dir").symlink_to("/etc")
    for name in ("escape.csv", "escape-dir/passwd"):
        with pytest.raises(Unreachable, match="outside the folders"):
            policy.connection_file(str(root / name))


def test_a_symlinked_root_still_contains_its_files(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "data.db").write_bytes(b"")
    (tmp_path / "alias").symlink_to(real)
    policy = ReachPolicy.from_settings(
        SimpleNamespace(
            file_connection_roots=[str(tmp_path / "alias")], connection_allowed_cidrs=[]
        )
    )
    assert (
        policy.connection_file(str(tmp_path / "alias" / "data.db")) == (real / "data.db").resolve()
    )


@pytest.mark.parametrize("name", ["", "bad\x00name"])
def test_no_or_unusable_file_name_is_refused(
    tree: tuple[ReachPolicy, Path, Path], name: str
) -> None:
    with pytest.raises(Unreachable):
        tree[0].connection_file(name)


def test_default_roots_are_the_working_folder_and_the_temporary_folder() -> None:
    policy = ReachPolicy.from_settings(Settings())
    assert policy.file_roots == (Path(os.getcwd()).resolve(), Path(tempfile.gettempdir()).resolve())
    assert policy.allowed_cidrs == ()


def test_roots_and_cidrs_come_from_settings(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "file_connection_roots": f"{tmp_path}{os.pathsep}{tmp_path / 'b'}",
            "connection_allowed_cidrs": "10.0.0.0/8, 127.0.0.1",
        }
    )
    policy = ReachPolicy.from_settings(settings)
    assert policy.file_roots == (tmp_path.resolve(), (tmp_path / "b").resolve())
    assert policy.allowed_cidrs == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    )
    with pytest.raises(ValueError, match="not a CIDR"):
        Settings.model_validate({"connection_allowed_cidrs": "10.0.0.0/8,nope"})


def test_any_database_host_by_default_without_resolving_it() -> None:
    target = ReachPolicy(file_roots=()).database_target("db.example.com", 5432)
    assert (target.host, target.port, target.addresses) == ("db.example.com", 5432, ())


@pytest.mark.parametrize(
    "host", ["/var/run/postgresql", "@abstract", "a.example,b.example", "db example", "2130706433"]
)
def test_a_socket_path_or_host_list_is_never_a_database_host(host: str) -> None:
    with pytest.raises(Unreachable, match="is not a host name or IP address"):
        ReachPolicy(file_roots=()).database_target(host, 5432)


def test_allowed_cidrs_admit_only_hosts_resolving_inside_them() -> None:
    policy = ReachPolicy(file_roots=(), allowed_cidrs=(ipaddress.ip_network("127.0.0.1/32"),))
    assert policy.database_target("127.0.0.1", 5432).addresses == ("127.0.0.1",)
    assert policy.database_target("::ffff:127.0.0.1", 5432).addresses == ("::ffff:7f00:1",)
    for host in ("127.0.0.2", "::1", "10.0.0.1"):
        with pytest.raises(Unreachable, match="outside the networks refreshes may reach"):
            policy.database_target(host, 5432)
    with pytest.raises(Unreachable, match="host not found"):
        policy.database_target("no-such-host.invalid", 5432)
