import json

import dns.zone

from govmail import lab
from govmail.build import dnsrecords
from govmail.build.secretstore import Secrets
from govmail.model.settings import Overrides, build


def settings_for(profile, inventory, province="hanam", **overrides):
    return build(profile(province), Overrides(**overrides), str(inventory))


def lab_inventory(tmp_path, address="10.213.0.10"):
    (tmp_path / "hosts.yml").write_text(f"all:\n  children:\n    mail:\n      hosts:\n        mail1:\n"
                                        f"          ansible_host: {address}\n")
    return tmp_path


def test_records_name_the_host_its_key_and_policies(profile, tmp_path):
    s = settings_for(profile, lab_inventory(tmp_path), relays=["192.0.2.40/32"])
    found = {(r.name, r.type): r.value for r in dnsrecords.records(s, Secrets(tmp_path / "store"))}
    assert found["hanam.gov.vn", "MX"] == "10 mail.hanam.gov.vn"
    assert found["mail.hanam.gov.vn", "A"] == "10.213.0.10"
    assert found["hanam.gov.vn", "TXT"] == "v=spf1 mx ip4:192.0.2.40/32 -all"
    assert found["_dmarc.hanam.gov.vn", "TXT"].startswith("v=DMARC1; p=quarantine; rua=mailto:postmaster@hanam.gov.vn")
    assert found["_submissions._tcp.hanam.gov.vn", "SRV"] == "0 1 465 mail.hanam.gov.vn"
    assert ("_pop3s._tcp.hanam.gov.vn", "SRV") not in found          # Hà Nam's regulation names no POP3
    assert found["_autodiscover._tcp.hanam.gov.vn", "SRV"] == "0 1 443 autoconfig.hanam.gov.vn"   # Outlook
    assert any(name.endswith("._domainkey.hanam.gov.vn") and value.startswith("v=DKIM1; k=rsa; p=")
               for (name, _), value in found.items())


def test_the_zone_text_parses_as_a_zone_with_every_record(profile, tmp_path):
    s = settings_for(profile, lab_inventory(tmp_path), "danang")
    store = Secrets(tmp_path / "store")
    found = dnsrecords.records(s, store)
    zone = dns.zone.from_text(dnsrecords.zone(s, found, store), origin="danang.gov.vn.", relativize=False,
                              check_origin=False)       # the province has its zone; these go into it
    parsed = {(str(name).rstrip("."), dns.rdatatype.to_text(rds.rdtype)) for name, rds in zone.iterate_rdatasets()}
    assert parsed == {(r.name, r.type) for r in found}
    dkim_txt = next(r for r in found if "._domainkey." in r.name)
    rdata = zone.find_rdataset(dkim_txt.name + ".", "TXT")[0]
    assert b"".join(rdata.strings).decode() == dkim_txt.value and len(rdata.strings) > 1
    assert ("thudientu.danang.gov.vn", "A") in parsed          # the regulation's webmail name


def test_public_addresses_win_and_a_named_host_gives_none(profile, tmp_path):
    s = settings_for(profile, lab_inventory(tmp_path, "mail.example.internal"))
    assert dnsrecords.mail_addresses(s) == []
    store = Secrets(tmp_path / "store")
    assert "set overrides.public_addresses" in dnsrecords.zone(s, dnsrecords.records(s, store), store)
    s = settings_for(profile, lab_inventory(tmp_path), public_addresses=["203.0.113.5", "2001:db8::5"])
    assert dnsrecords.mail_addresses(s) == ["203.0.113.5", "2001:db8::5"]


def test_the_lab_dns_gets_each_record_in_dnsmasq_form(profile, tmp_path):
    s = settings_for(profile, lab_inventory(tmp_path))
    found = dnsrecords.records(s, Secrets(tmp_path / "store"))
    lines = lab.dnsmasq_lines(found)
    assert "mx-host=hanam.gov.vn,mail.hanam.gov.vn,10" in lines and "local=/hanam.gov.vn/" in lines
    assert "srv-host=_imaps._tcp.hanam.gov.vn,mail.hanam.gov.vn,993,0,1" in lines
    dkim_line = next(line for line in lines if "._domainkey." in line)
    assert dkim_line.count('"') == 4          # a 2048-bit key needs two strings of at most 255
    assert json.loads(dnsrecords.as_json(found))[0] == {"name": "hanam.gov.vn", "type": "MX",
                                                         "value": "10 mail.hanam.gov.vn", "ttl": 3600}


def test_during_a_rotation_both_keys_are_published(profile, tmp_path):
    from govmail.build import dkim
    s, store = settings_for(profile, lab_inventory(tmp_path)), Secrets(tmp_path / "store")
    signing, waiting = dkim.active(store, s.domain), dkim.prepare(store, s.domain)
    names = [r.name for r in dnsrecords.records(s, store) if r.type == "TXT"]
    assert signing.dns_name in names and waiting.dns_name in names
    assert f"{waiting.selector} is next" in dnsrecords.zone(s, dnsrecords.records(s, store), store)


def test_mta_sts_is_published_and_its_id_follows_the_policy(profile, tmp_path):
    store = Secrets(tmp_path / "store")
    testing = settings_for(profile, lab_inventory(tmp_path))
    enforce = settings_for(profile, lab_inventory(tmp_path), mta_sts_mode="enforce")
    found = {(r.name, r.type): r.value for r in dnsrecords.records(testing, store)}
    assert found["mta-sts.hanam.gov.vn", "A"] == found["autoconfig.hanam.gov.vn", "A"] == "10.213.0.10"
    policy = dnsrecords.mta_sts_policy(testing)
    assert policy.split("\r\n") == ["version: STSv1", "mode: testing", "mx: mail.hanam.gov.vn",
                                    f"max_age: {7 * 86400}", ""]
    assert "mode: enforce\r\n" in dnsrecords.mta_sts_policy(enforce)
    ids = [dict(tag.split("=") for tag in found["_mta-sts.hanam.gov.vn", "TXT"].split("; "))["id"],
           dnsrecords.mta_sts_id(dnsrecords.mta_sts_policy(enforce))]
    assert ids[0] != ids[1] and all(i.isalnum() and len(i) <= 32 for i in ids)


def test_in_the_lab_each_store_host_is_an_mx_host_too_and_keeps_its_own_name():
    from govmail.lab.inventory import groups, names_on_the_mail_host
    from govmail.lab.state import Host
    hosts = {name: Host(name, f"10.213.0.{n}", "", "trixie", 0)
             for n, name in enumerate(("mail1", "store1", "outside"), 10)}
    assert {group: names for group, names in groups(hosts).items() if group in ("store", "mx", "directory")} == {
        "directory": ["store1"], "store": ["mail1", "store1"], "mx": ["mail1", "store1"]}
    found = [dnsrecords.Record("hanam.gov.vn", "MX", f"10 {name}") for name in ("mail.hanam.gov.vn", "store1")]
    assert names_on_the_mail_host(found) == ["hanam.gov.vn", "mail.hanam.gov.vn"]


def test_in_the_lab_store_hosts_are_fronts_and_the_mail_hosts_name_moves_to_the_floating_address():
    from govmail.lab.inventory import FRONT_VARS, groups, names_on_the_mail_host
    from govmail.lab.state import FLOATING_ADDRESS, Host
    hosts = {name: Host(name, f"10.213.0.{n}", "", "trixie", 0) for n, name in enumerate(("mail1", "store1"), 10)}
    assert groups(hosts)["front"] == ["mail1", "store1"]
    assert FRONT_VARS["floating_address"] == FLOATING_ADDRESS != "10.213.0.10"
    found = [dnsrecords.Record("hanam.gov.vn", "MX", "10 mail.hanam.gov.vn"),
             dnsrecords.Record("mail.hanam.gov.vn", "A", FLOATING_ADDRESS)]
    assert names_on_the_mail_host(found, "10.213.0.10") == ["hanam.gov.vn"]
    assert names_on_the_mail_host(found[:1] + [dnsrecords.Record("mail.hanam.gov.vn", "A", "10.213.0.10")],
                                  "10.213.0.10") == ["hanam.gov.vn", "mail.hanam.gov.vn"]
