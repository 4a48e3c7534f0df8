"""Front hosts apart (hosts.yml group `front`, each a store host): keepalived moves the users' floating address
among the mail host and them; a front answers users there with the mail host's certificate and proxies each
login to its mailbox's store; the DNS names mail.<domain> at the floating address."""

import pytest
import yaml

from govmail.build import components
from govmail.build import dnsrecords
from govmail.build import layout
from govmail.build import render
from govmail.build.secretstore import Secrets, store_dir
from govmail.errors import BadInput
from govmail.model import settings

MAIL, FRONT, FLOATING = "192.0.2.10", "192.0.2.20", "192.0.2.99"
KEEPALIVED = layout.KEEPALIVED_CONF
STORE_CONF = "/etc/dovecot/conf.d/govmail-store.conf"


def write_hosts(inventory_dir, front_vars: dict | None = None, front_hosts=("mail1", "front1"), stores=True, mx=True):
    groups = {"mail": {"mail1": MAIL}, "directory": {"front1": FRONT},
              "store": {"mail1": MAIL, "front1": FRONT} if stores else {},
              "mx": {"mail1": MAIL, "front1": FRONT} if mx else {},
              "front": {name: {"mail1": MAIL, "front1": FRONT}[name] for name in front_hosts}}
    children = {group: {"hosts": {name: {"ansible_host": address} for name, address in hosts.items()}}
                for group, hosts in groups.items()}
    if front_vars is not None:
        children["front"]["vars"] = front_vars
    (inventory_dir / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}, sort_keys=False))
    return inventory_dir


def with_front(inventory, **front_vars) -> settings.Settings:
    return settings.load(None, write_hosts(inventory(""), {"floating_address": FLOATING, **front_vars}))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_the_floating_address_and_interface_come_from_group_fronts_vars(inventory):
    s = with_front(inventory, floating_interface="ens3")
    assert (s.floating.address, s.floating.interface, s.floating.fronts) == (FLOATING, "ens3", ("front1",))
    assert s.front_addresses == {"front1": FRONT}
    assert settings.load(None, write_hosts(inventory(""), None, front_hosts=("mail1",))).floating is None


@pytest.mark.parametrize("front_vars, hosts, message", [
    ({}, {}, "needs vars: floating_address"),
    ({"floating_address": "2001:db8::5"}, {}, "needs vars: floating_address"),
    ({"floating_address": MAIL}, {}, "is a host's own address"),
    ({"floating_address": FLOATING, "floating_interface": "eth0; rm -rf /"}, {}, "no network interface name"),
    ({"floating_address": FLOATING}, {"stores": False}, "must be in group store too"),
    ({"floating_address": FLOATING}, {"mx": False}, "must be in group mx too"),
    ({"floating_address": FLOATING}, {"front_hosts": ("mail1",)}, "but no host besides the mail host"),
])
def test_a_front_the_model_cannot_serve_is_refused_naming_why(inventory, front_vars, hosts, message):
    with pytest.raises(BadInput, match=message):
        settings.load(None, write_hosts(inventory(""), front_vars, **hosts))


def test_keepalived_on_each_front_names_the_others_alone_and_the_mail_host_ranks_first(inventory):
    s = with_front(inventory)
    on_mail, on_front = components.host_files(s)[KEEPALIVED], components.host_files(s, "front1")[KEEPALIVED]
    for conf, me, peer in ((on_mail, MAIL, FRONT), (on_front, FRONT, MAIL)):
        body = lines(conf)
        assert f"unicast_src_ip {me}" in body
        assert body[body.index("unicast_peer {") + 1] == peer and body[body.index("unicast_peer {") + 2] == "}"
        assert f"{FLOATING}/32 dev eth0" in body
    priority = {name: int(next(line.split()[1] for line in lines(conf) if line.startswith("priority ")))
                for name, conf in (("mail", on_mail), ("front", on_front))}
    assert priority["mail"] > priority["front"]
    assert {f.path for f in components.components(s, "front1")["keepalived"].files} == {
        KEEPALIVED, "/etc/systemd/system/govmail-keepalived.service", layout.FRONT_STATE_TOOL}
    assert f"notify {layout.FRONT_STATE_TOOL}" in lines(on_front)


def test_back_to_one_front_the_deploy_takes_keepalived_away(inventory):
    """An earlier deploy's keepalived stops for good and its files go (the floating address with it)."""
    part = components.components(settings.load(None, inventory("")))["keepalived"]
    assert (part.packages, part.files, part.services) == ((), (), ())
    assert set(part.withdrawn) == {KEEPALIVED, "/etc/systemd/system/govmail-keepalived.service",
                                   layout.FRONT_STATE_TOOL, layout.FRONT_METRICS}
    assert part.withdrawn_units == ("govmail-keepalived.service",)


def test_each_front_drops_vrrp_from_anyone_but_the_other_fronts(inventory):
    s = with_front(inventory)
    for rules, peer in ((components.host_files(s)["/etc/govmail/nftables.conf"], FRONT),
                        (components.host_files(s, "front1")[layout.DIRECTORY_FIREWALL], MAIL)):
        body = lines(rules)
        assert body.index(f"ip protocol vrrp ip saddr {{ {peer} }} accept") < body.index("ip protocol vrrp counter drop")


def test_a_front_apart_answers_users_at_the_floating_address_with_the_mail_hosts_certificate(inventory):
    s = with_front(inventory)
    files = components.host_files(s, "front1")
    store = lines(files[STORE_CONF])
    public_cert, public_key = layout.tls_paths(s.mail_host)
    assert f"ssl_server_cert_file = {public_cert}" in store and public_cert in files and public_key in files
    # the proxies ask for it by its inventory name and get the internal certificate
    assert store[store.index("local_name front1 {") + 1] == f"ssl_server_cert_file = {layout.STORE_CERT}"
    assert f"auth_proxy_self = {FLOATING} {FRONT}" in store        # its webmail logs in over loopback
    rules = lines(files[layout.DIRECTORY_FIREWALL])
    assert f"tcp dport {{ 80, 110, 143, 443, 465, 587, 993, 995, 4190 }} ip daddr {FLOATING} accept" in rules
    # the mail host counts a login at the floating address as its own, and admits the front's proxy
    front_conf = lines(components.host_files(s)["/etc/dovecot/conf.d/govmail-front.conf"])
    assert f"auth_proxy_self = {MAIL} {FLOATING}" in front_conf
    assert f"login_trusted_networks = 127.0.0.0/8 {FRONT}" in front_conf
    assert front_conf[front_conf.index("local_name mail1 {") + 1] == f"ssl_server_cert_file = {layout.STORE_CERT}"


def test_a_front_apart_takes_submissions_at_the_floating_address_alone_with_the_mail_hosts_certificate(inventory):
    """Its Postfix (an MX's) opens 587 and 465 as the mail host's do, with the public certificate users know
    mail.<domain> by; Dovecot gives Postfix the SASL socket; the firewall refuses them at the host's own address."""
    s = with_front(inventory)
    files = components.host_files(s, "front1")
    master = files["/etc/postfix/master.cf"]
    public_cert, public_key = layout.tls_paths(s.mail_host)
    for service in ("submission inet", "submissions inet"):
        options = master.split(service, 1)[1].split("\n")
        assert "  -o smtpd_sasl_auth_enable=yes" in options[:13]
        assert f"  -o smtpd_tls_chain_files={public_key},{public_cert}" in options[:13]
    store = lines(files[STORE_CONF])
    assert store[store.index("service auth {") + 1] == "unix_listener /var/spool/postfix/private/auth {"
    rules = lines(files[layout.DIRECTORY_FIREWALL])
    assert rules.index(f"tcp dport {{ 80, 110, 143, 443, 465, 587, 993, 995, 4190 }} ip daddr {FLOATING} accept") \
        < rules.index('tcp dport { 80, 443, 465, 587 } iif "lo" accept') \
        < rules.index("tcp dport { 80, 443, 465, 587 } counter reject with tcp reset")
    # the mail host's own submission keeps main.cf's certificate (the same public one)
    on_mail = components.host_files(s)["/etc/postfix/master.cf"].split("submission inet", 1)[1].split("# Dovecot")[0]
    assert "smtpd_sasl_auth_enable=yes" in on_mail and "smtpd_tls_chain_files=" not in on_mail


def test_a_front_apart_serves_the_webmail_with_the_mail_hosts_certificate(inventory):
    """nginx presents mail.<domain>'s certificate (not the MX's own), and Roundcube checks its local Dovecot and
    Postfix against that name; both watched there."""
    s = with_front(inventory)
    files = components.host_files(s, "front1")
    public_cert, public_key = layout.tls_paths(s.mail_host)
    site = lines(files[layout.NGINX_SITE])
    assert f"ssl_certificate {public_cert};" in site and f"ssl_certificate_key {public_key};" in site
    assert f"'peer_name' => '{s.mail_host}', 'cafile' => '{public_cert}'" in files["/etc/roundcube/config.inc.php"]
    assert {"nginx.service", f"php{layout.PHP_VERSION}-fpm.service"} <= set(components.directory_host_units(s, "front1"))


def test_the_dns_names_mail_at_the_floating_address_and_spf_the_mail_hosts_own(inventory):
    s = with_front(inventory)
    found = dnsrecords.records(s, Secrets(store_dir(s.inventory)))
    assert {r.value for r in found if r.type == "A" and r.name == s.mail_host} == {FLOATING}
    spf = next(r.value for r in found if r.type == "TXT" and r.value.startswith("v=spf1"))
    assert f"ip4:{MAIL}" in spf.split()


def test_the_monitoring_watches_keepalived_on_every_front(inventory):
    s = with_front(inventory)
    assert "govmail-keepalived.service" in components.watched_units(s)
    assert "govmail-keepalived.service" in components.directory_host_units(s, "front1")
    assert "govmail-keepalived.service" not in components.watched_units(settings.load("hanam"))


def test_the_monitoring_server_reaches_the_mail_host_by_its_own_address_not_the_floating_one(inventory):
    found = inventory("")
    write_hosts(found, {"floating_address": FLOATING})
    hosts = yaml.safe_load((found / "hosts.yml").read_text())
    hosts["all"]["children"]["monitor"] = {"hosts": {"monitor1": {"ansible_host": "192.0.2.50"}}}
    (found / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    s = settings.load(None, found)
    prometheus = components.host_files(s)["/etc/prometheus/prometheus.yml"]
    assert f'- targets: ["{MAIL}:{layout.MONITOR_PORTS["node"]}"]' in prometheus
    assert f"smtp_smarthost: {MAIL}:" in components.host_files(s)["/etc/prometheus/alertmanager.yml"]


def test_a_front_apart_keeps_the_internal_certificate_for_deliveries_and_doveadm(inventory):
    """The other stores' doveadm (moves, partner copies) and the mail host's LMTP proxy check it by its inventory
    name: they must not meet the public certificate users get."""
    store = lines(components.host_files(with_front(inventory), "front1")[STORE_CONF])
    for protocol in ("lmtp", "doveadm"):
        assert store[store.index(f"protocol {protocol} {{") + 1] == f"ssl_server_cert_file = {layout.STORE_CERT}"


PG_HBA = f"{layout.WEBMAIL_DB_DIR}/pg_hba.conf"
ROUNDCUBE = "/etc/roundcube/config.inc.php"


def test_roundcubes_database_lets_in_the_other_front_as_replicator_over_tls_and_roundcube_on_loopback(inventory):
    s = with_front(inventory)
    for host, other in ((None, FRONT), ("front1", MAIL)):
        hba = [line.split() for line in components.host_files(s, host)[PG_HBA].splitlines()
               if line and not line.startswith("#")]
        assert hba == [["local", "all", "postgres", "peer"],
                       ["host", "roundcube", "roundcube", "127.0.0.1/32", "scram-sha-256"],
                       ["hostssl", "replication", "replicator", f"{other}/32", "scram-sha-256"],
                       ["hostssl", "postgres", "replicator", f"{other}/32", "scram-sha-256"]], host


def test_each_front_opens_the_database_port_to_the_other_front_alone(inventory):
    s = with_front(inventory)
    for host, table, other in ((None, "/etc/govmail/nftables.conf", FRONT),
                               ("front1", layout.DIRECTORY_FIREWALL, MAIL)):
        rules = [line for line in lines(components.host_files(s, host)[table]) if f"dport {layout.PG_PORT} " in line]
        assert rules == [f'tcp dport {layout.PG_PORT} iif "lo" accept',
                         f"tcp dport {layout.PG_PORT} ip saddr {{ {other} }} accept",
                         f"tcp dport {layout.PG_PORT} counter reject with tcp reset"], host


def test_roundcube_on_each_front_uses_the_shared_database_and_the_mail_host_makes_it(inventory):
    s = with_front(inventory)
    password = render.default_secrets(s).password("webmail-db-roundcube")
    for host, first in ((None, "True"), ("front1", "False")):
        content = components.host_files(s, host)
        assert f"'pgsql://roundcube:{password}@127.0.0.1:{layout.PG_PORT}/roundcube'" in content[ROUNDCUBE]
        assert "debian-db-roundcube.php" not in content[ROUNDCUBE].replace("// The SQLite", "")
        assert f"FIRST_PRIMARY = {first} " in content[layout.WEBMAIL_DB_TOOL], host
        assert components.components(s, host)["webmail_db"].packages, host


def test_back_to_one_front_the_deploy_stops_postgresql_and_takes_its_files_away(inventory):
    s = settings.load(None, write_hosts(inventory(""), None, front_hosts=("mail1",)))
    part = components.components(s)["webmail_db"]
    assert part.packages == () and set(part.withdrawn) == {f.path for f in layout.WEBMAIL_DB_FILES} | {
        layout.WEBMAIL_DB_METRICS}
    assert part.withdrawn_units == ("govmail-webmail-db-metrics.service", "govmail-webmail-db-metrics.timer")
    assert 'include("/etc/roundcube/debian-db-roundcube.php");' in components.host_files(s)[ROUNDCUBE]
