"""What the lab publishes for both engines and the tests: the inventory of the running hosts, their DNS
names and the province's records."""

from __future__ import annotations

from pathlib import Path

import yaml

from govmail.build import dnsrecords
from govmail.lab.state import FLOATING_ADDRESS, FLOATING_INTERFACE, Host, INVENTORY_DIR, OUTSIDE_DOMAIN, STATE, alive, write_file
from govmail.lab.network import serve_records, write_dns
from govmail.lab.hosts import ssh_key


FRONT_VARS = {"floating_address": FLOATING_ADDRESS, "floating_interface": FLOATING_INTERFACE}


def role(name: str) -> str:
    """A lab host's group: `outside` plays the internet, `backup` keeps the backups, `monitor` runs the
    monitoring server, `directory1`, `directory2` … are other providers of the directory, and so are
    `store1`, `store2` … (which hold mailboxes and receive mail too: groups), the others are mail hosts."""
    if name.startswith(("directory", "store")):
        return "directory"
    return name if name in ("outside", "backup", "monitor") else "mail"


def groups(hosts: dict[str, Host]) -> dict[str, list[str]]:
    """Each inventory group's hosts. With `store…` hosts, group `store` lists the mail host first (the
    mailboxes that name no store are there), then them."""
    found = {group: [h.name for h in hosts.values() if role(h.name) == group]
             for group in ("mail", "backup", "monitor", "directory", "outside")}
    stores = [name for name in found["directory"] if name.startswith("store")]
    if stores:
        found["store"] = found["mail"][:1] + stores
        # Each store host receives mail from the internet too (group `mx`) and answers users at the floating
        # address when the mail host cannot (group `front`): the lab's second node holds every role.
        found["mx"] = found["mail"][:1] + stores
        found["front"] = found["mail"][:1] + stores
    return found


def write_inventory(hosts: dict[str, Host]) -> Path:
    """inventories/lab/hosts.yml (Ansible's YAML format); pyinfra's inventory.py reads the same file."""
    key = str(ssh_key())
    data = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": key,
                 "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
        "children": {group: {"hosts": {name: {"ansible_host": hosts[name].address} for name in names},
                             **({"vars": FRONT_VARS} if group == "front" else {})}
                     for group, names in groups(hosts).items()},
    }}
    path = INVENTORY_DIR / "hosts.yml"
    write_file(path, "# Written by `govmail lab up`: the lab's hosts, for pyinfra and Ansible alike.\n"
           + yaml.safe_dump(data, sort_keys=False))
    return path


def province_names() -> list[str]:
    """The names the last publication gave the province: its domain and its mail host's name (from the MX)."""
    path = STATE / "province-names"
    return path.read_text().split() if path.exists() else []


def mail_names(hosts: dict[str, Host]) -> dict[str, str]:
    """Lab DNS names -> host: the province's domain and mail host name on the first mail host, the outside
    world's domain on `outside` (which has no MX record: mail to it goes to the domain's own address)."""
    names = {}
    if "outside" in hosts:
        names.update({OUTSIDE_DOMAIN: "outside", f"mail.{OUTSIDE_DOMAIN}": "outside"})
    mail_hosts = [h for h in hosts.values() if role(h.name) == "mail"]
    if mail_hosts:
        names.update({name: mail_hosts[0].name for name in province_names()})
    return names


def publish(hosts: dict[str, Host]) -> None:
    """Names and inventories list the running hosts only: a deploy never waits on a stopped one. The
    province's records stay as last published (publish_records), as a stopped host's DNS would."""
    running = {name: h for name, h in hosts.items() if alive(h.pid)}
    write_dns(running, mail_names(running))
    write_inventory(running)


def names_on_the_mail_host(found: list[dnsrecords.Record], address: str | None = None) -> list[str]:
    """The province's names the lab DNS gives the first mail host (at `address`): its domain and the first MX
    (the mail host; any other MX is a lab host apart, already named after itself), unless the records give that
    name another address (the floating address of several fronts)."""
    mx = [r for r in found if r.type == "MX"]
    elsewhere = {r.name for r in found if r.type in ("A", "AAAA") and address and r.value != address}
    return sorted(({r.name for r in mx} | {mx[0].value.split()[1]}) - elsewhere) if mx else []


def publish_province(hosts: dict[str, Host], found: list[dnsrecords.Record]) -> None:
    """The lab DNS serves a province's records (`govmail dns`) from now on, and its domain and mail host
    name on the first mail host, until the next publication."""
    mail_hosts = [h.address for h in hosts.values() if role(h.name) == "mail"]
    names = names_on_the_mail_host(found, mail_hosts[0] if mail_hosts else None)
    write_file(STATE / "province-names", "".join(f"{name}\n" for name in names))
    publish(hosts)
    serve_records(found)
