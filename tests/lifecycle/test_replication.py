"""The directory replicated between two providers (multi-provider syncrepl): two real slapd from the deploy's
own configuration, as it renders for a directory with two providers, on loopback. The tree is loaded on the
first only, as a deploy does; the second receives it."""

import os
import time
import warnings

import ldap3
import pytest

from govmail.accounts import directory
from govmail.accounts.lifecycle import AddRequest, Lifecycle
from govmail.build import render
from govmail.build.layout import METRICS_TOOL
from govmail.build.secretstore import Secrets
from govmail.lab import localslapd
from govmail.model import settings


@pytest.fixture(scope="module")
def providers(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("unavailable here: the local slapd runs chrooted in the lab's root filesystem: needs root")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = settings.load("hanam")
    started = localslapd.start_providers(s, Secrets(tmp_path_factory.mktemp("secrets")))
    yield started
    for instance in started:
        instance.stop()


def on(instance) -> ldap3.Connection:
    return directory.connect(instance.settings, instance.url)


def entry(instance, dn: str, *attributes: str) -> dict | None:
    conn = on(instance)
    if not conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes) or ["*"]):
        return None
    return conn.entries[0].entry_attributes_as_dict


def eventually(found, wait: float = 15.0):
    """found() once it is truthy, within `wait` seconds (replication is asynchronous)."""
    deadline = time.monotonic() + wait
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def lifecycle(instance) -> Lifecycle:
    return Lifecycle(instance.settings, on(instance), "test-operator", directory.now)


def test_the_second_provider_receives_the_tree(providers):
    first, second = providers
    s = first.settings
    for dn in (s.base_dn, f"ou=people,{s.base_dn}", f"cn=users,ou=policies,{s.base_dn}",
               f"cn=dovecot,ou=services,{s.base_dn}"):
        assert eventually(lambda: entry(second, dn)), dn


def test_an_account_made_on_either_provider_is_on_both(providers):
    first, second = providers
    made_on_second = lifecycle(second).add(AddRequest("agency", "Sở Tư pháp", request="REPL-1"))
    assert eventually(lambda: entry(first, made_on_second.dn, "mail"))
    made_on_first = lifecycle(first).add(AddRequest("person", "Trần Văn Đồng Bộ", agency="Sở Tư pháp"))
    replicated = eventually(lambda: entry(second, made_on_first.dn, "mail", "userPassword", "pwdReset"))
    assert replicated["mail"] == [made_on_first.address]
    assert replicated["pwdReset"] == ["TRUE"]                  # the issued password must still be changed there
    assert replicated["userPassword"] == entry(first, made_on_first.dn, "userPassword")["userPassword"]


def failed_bind(instance, dn: str) -> None:
    conn = ldap3.Connection(f"ldap://127.0.0.1:{instance.port}", dn, "not-the-password")
    assert not conn.bind()


def test_failed_logins_on_both_providers_count_together(providers):
    """ppolicy's failure times replicate: failures spread over the providers lock the mailbox on both once
    they reach the policy's count (3 on one and 2 on the other, of Hà Nam's 5)."""
    first, second = providers
    account = lifecycle(first).add(AddRequest("person", "Lê Thị Khóa Chung", agency="Sở Tư pháp"))
    assert eventually(lambda: entry(second, account.dn, "mail"))
    assert first.settings.policies["users"].max_failures == 5
    for instance, times in ((first, 3), (second, 2)):
        for _ in range(times):
            failed_bind(instance, account.dn)
        time.sleep(0.5)
    for instance in (first, second):
        locked = eventually(lambda: (entry(instance, account.dn, "pwdAccountLockedTime") or {}).get("pwdAccountLockedTime"))
        assert locked, f"locked on the provider at port {instance.port}"
        conn = ldap3.Connection(f"ldap://127.0.0.1:{instance.port}", account.dn, account.password)
        assert not conn.bind()


def test_a_provider_that_was_down_catches_up(providers):
    """The drill's core: one provider stops, an account is made on the other meanwhile, and the stopped one
    has it once it runs again."""
    first, second = providers
    second.stop_slapd()
    try:
        during = lifecycle(first).add(AddRequest("person", "Phạm Thị Vắng Mặt", agency="Sở Tư pháp"))
    finally:
        second.run_slapd()
    assert eventually(lambda: entry(second, during.dn, "mail"), wait=60), "the restarted provider caught up"


def test_a_login_writes_its_time_at_most_hourly(providers):
    """olcLastBindPrecision: a login updates pwdLastSuccess (which the inactivity rules read), and a second
    login within the hour writes nothing, so logins do not flood replication."""
    first, _ = providers
    account = lifecycle(first).add(AddRequest("person", "Võ Văn Đăng Nhập", agency="Sở Tư pháp"))
    logins = []
    for _ in range(2):
        conn = ldap3.Connection(f"ldap://127.0.0.1:{first.port}", account.dn, account.password)
        assert conn.bind()
        conn.unbind()
        logins.append(entry(first, account.dn, "pwdLastSuccess", "modifyTimestamp"))
        time.sleep(1.1)
    assert logins[0]["pwdLastSuccess"], "the first login is recorded"
    assert logins[1] == logins[0]


def replication_metrics(instance) -> dict[str, float]:
    """The replication samples of the deployed metrics script (govmail-metrics.timer's), run in the provider's
    root against its slapd: series -> value."""
    script = instance.merged / METRICS_TOOL.lstrip("/")
    if not script.exists():
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(render.render_all(instance.settings, instance.secrets)[METRICS_TOOL], encoding="utf-8")
    run = instance.chroot("python3", "-c", "import importlib.machinery as m; "
                          f"print(*m.SourceFileLoader('metrics', '{METRICS_TOOL}').load_module().replication(), "
                          "sep='\\n')")
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in run.stdout.splitlines() if not line.startswith("#"))}


def test_the_metrics_say_whether_each_provider_streams_the_others_changes(providers):
    """What `govmail status` and the DirectoryReplicationStopped alert read: streaming 1 while the other
    provider is connected, 0 while it is down; the newest change held from each provider (its server ID)."""
    first, second = providers
    streams = f'govmail_slapd_replication_streaming{{provider="ldap://127.0.0.1:{second.port}/"}}'
    assert eventually(lambda: replication_metrics(first).get(streams) == 1)
    before = time.time()
    lifecycle(second).add(AddRequest("agency", "Sở Khoa học và Công nghệ", request="REPL-METRICS"))
    changed_on_second = 'govmail_slapd_change_timestamp_seconds{server_id="2"}'
    assert eventually(lambda: replication_metrics(first).get(changed_on_second, 0) >= before - 1)
    assert replication_metrics(first)[changed_on_second] < time.time() + 1
    second.stop_slapd()
    try:
        assert eventually(lambda: replication_metrics(first).get(streams) == 0)
    finally:
        second.run_slapd()
    assert eventually(lambda: replication_metrics(first).get(streams) == 1, wait=60)
