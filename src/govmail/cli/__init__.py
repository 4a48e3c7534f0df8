"""`govmail <noun> <verb>`: exit 0 ok, 1 failure, 2 bad input, 3 the regulation leaves it to the operator."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from govmail.build import dkim
from govmail.build import dnsrecords
from govmail.build import render
from govmail.cli import accounts as cli_accounts
from govmail.cli import backup as cli_backup
from govmail.cli import maintenance as cli_maintenance
from govmail.cli.options import inventory_options
from govmail.errors import BadInput, GovmailError, OperatorChoice
from govmail.model import naming
from govmail.model import settings as settings_mod
from govmail.model.profile import known_provinces, load_profile

CITED_KEYS = {"value", "source", "note"}


def flatten(data, prefix: str = "") -> dict[str, dict]:
    """Profile as dotted keys -> {value, source, note}, one per regulation value."""
    if isinstance(data, dict) and set(data) == CITED_KEYS:
        return {prefix: data}
    if isinstance(data, dict):
        out: dict[str, dict] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: {"value": data, "source": None, "note": None}}


def _profile_data(province: str) -> dict:
    return load_profile(province).model_dump(mode="json")


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value and not isinstance(value[0], dict) else json.dumps(
            value, ensure_ascii=False)
    return str(value)


def _origin(entry: dict) -> str:
    """The article, or for an unset value the project default that applies."""
    if entry["source"]:
        return entry["source"]
    return f"not set: {entry['note']}" if entry["note"] else ""


def _cited_text(entry: dict | None) -> str:
    if entry is None:
        return "absent"
    origin = _origin(entry)
    return _text(entry["value"]) + (f"   [{origin}]" if origin else "")


@click.group()
@click.version_option(package_name="govmail")
def main():
    """govmail: a provincial government mail system that obeys its province's regulation."""


@main.group()
def profile():
    """Province profiles: the regulation's values with their articles."""


@profile.command("list")
def profile_list():
    """Every profile, its decision, and whether it is still in force."""
    for province in known_provinces():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = load_profile(province)
        status = f"superseded by {p.decision.superseded_by}" if p.superseded else "in force"
        click.echo(f"{province:<12} {p.name:<16} {p.decision.number:<20} {status}")


@profile.command("show")
@click.argument("province")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def profile_show(province: str, fmt: str):
    """One profile, value by value with its source."""
    data = _profile_data(province)
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, entry in flatten(data).items():
        click.echo(f"{key}: {_cited_text(entry)}")


@profile.command("diff")
@click.argument("old")
@click.argument("new")
def profile_diff(old: str, new: str):
    """What changes when a deployment switches from OLD to NEW, value by value, with sources.

    Values that stay the same under a different article are listed too: the legal basis changes."""
    a, b = flatten(_profile_data(old)), flatten(_profile_data(new))
    keys = [k for k in dict.fromkeys([*a, *b]) if not k.startswith(("province", "name", "decision."))]
    same_value_new_source = []
    for key in keys:
        ea, eb = a.get(key), b.get(key)
        if ea and eb and ea["value"] == eb["value"]:
            if ea["value"] is not None and ea["source"] != eb["source"]:
                same_value_new_source.append(f"{key}: {_text(ea['value'])}   [{ea['source']} -> {eb['source']}]")
            continue
        click.echo(f"{key}:\n  {old}: {_cited_text(ea)}\n  {new}: {_cited_text(eb)}")
    if same_value_new_source:
        click.echo("same value, different article:")
        for line in same_value_new_source:
            click.echo(f"  {line}")


def _settings(province: str | None, inventory: Path | None):
    return settings_mod.load(province, inventory)


@main.command("render")
@click.option("--province", help="Profile to render (default: the inventory's).")
@click.option("--inventory", type=click.Path(file_okay=False, path_type=Path),
              help="Inventory directory holding govmail.yml (province and overrides).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write into, mirroring host paths; no host is touched.")
def render_cmd(province: str | None, inventory: Path | None, out: Path):
    """Write every managed configuration file for a province or inventory."""
    s = _settings(province, inventory)
    for path in render.write_tree(s, out):
        click.echo(str(path))


@main.command("dns")
@inventory_options
@click.option("--json", "as_json", is_flag=True, help="JSON (name, type, value, ttl) instead of zone-file lines.")
def dns_cmd(inventory: Path | None, province: str | None, as_json: bool):
    """The DNS records to publish for the province's mail: MX, addresses, SPF, DKIM, DMARC, TLS-RPT, SRV."""
    s = _settings(province, inventory)
    secrets = render.default_secrets(s)
    found = dnsrecords.records(s, secrets)
    click.echo(dnsrecords.as_json(found) if as_json else dnsrecords.zone(s, found, secrets), nl=False)


@main.group("dkim")
def dkim_group():
    """The province's DKIM signing keys."""


@dkim_group.command("rotate")
@inventory_options
def dkim_rotate(inventory: Path | None, province: str | None):
    """Make the next key (first run), or let it sign once the DNS answers with it (second run)."""
    s = _settings(province, inventory)
    secrets = render.default_secrets(s)
    waiting = dkim.upcoming(secrets, s.domain)
    if waiting is None:
        key = dkim.prepare(secrets, s.domain)
        click.echo(f"Made DKIM key {key.selector} for {s.domain}. Publish this record, wait until the DNS answers "
                   f"with it, then run `govmail dkim rotate` again:\n"
                   f"{dnsrecords.Record(key.dns_name, 'TXT', key.dns_value).zone_line()}")
        return
    retired, signing = dkim.promote(secrets, s.domain, dnsrecords.lookup_txt(waiting.dns_name, s.resolver))
    click.echo(f"{signing.selector} signs {s.domain}'s mail from the next deploy on; keep {retired.dns_name} "
               "published for a week after it, for mail still on its way.")


@main.group()
def address():
    """Mail addresses by the province's naming rules."""


@address.command("suggest")
@click.option("--province", required=True)
@click.option("--kind", required=True, type=click.Choice(["person", "agency", "unit"]))
@click.option("--name", required=True, help="Full name as written (family name first), or the agency/unit name.")
@click.option("--agency", help="Agency the person or unit belongs to, in full.")
@click.option("--abbrev", help="The operator's own abbreviation for this agency or unit.")
@click.option("--agency-abbrev", help="The parent agency's address part, when the operator fixes it.")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD, for rules that use it.")
@click.option("--taken", multiple=True, help="An address already in use (repeatable).")
@click.option("--taken-same-agency", multiple=True, help="An address in use by someone of the same agency.")
def address_suggest(province, kind, name, agency, abbrev, agency_abbrev, birth_date, taken, taken_same_agency):
    """Print the address the regulation gives; exit 3 when it leaves the choice to the operator."""
    p = load_profile(province)
    req = naming.Request(kind, name, agency, abbrev, agency_abbrev, birth_date.date() if birth_date else None)
    result = naming.suggest(p.naming, p.mail.domain.value, req, taken, taken_same_agency)
    click.echo(result.address)
    click.echo(f"rule: {result.rule} ({result.source}); tried: {', '.join(result.tried)}", err=True)


@main.group()
def lab():
    """VM-like Debian hosts on this machine (systemd-nspawn), reached over SSH."""


@lab.command("up")
@click.argument("names", nargs=-1)
@click.option("--hosts", "count", type=click.IntRange(1, 50), help="Start mail1..mailN.")
@click.option("--suite", default="trixie", show_default=True)
def lab_up(names, count, suite):
    """Start lab hosts (default: mail1), building what they need first."""
    from govmail import lab as lab_mod
    if names and count:
        raise BadInput("give either --hosts N or host names, not both")
    chosen = list(names) or [f"mail{i}" for i in range(1, (count or 1) + 1)]
    for host in lab_mod.up(chosen, suite):
        click.echo(f"{host.name:<10} {host.address:<15} up   (govmail lab ssh {host.name})")
    if not lab_mod.province_names() and any(lab_mod.role(name) == "mail" for name in lab_mod.load_hosts()):
        lab_mod.publish_records(_lab_inventory_records())


def _lab_inventory_records() -> list:
    """What `govmail dns` prints for the lab inventory's province: the lab DNS serves it until a deploy of
    another province publishes that one's (the tests do, as an operator would)."""
    s = settings_mod.load(inventory_dir=settings_mod.INVENTORIES_DIR / "lab")
    return dnsrecords.records(s, render.default_secrets(s))


@lab.command("down")
@click.argument("names", nargs=-1)
def lab_down(names):
    """Stop lab hosts (all by default); their files stay for the next `up`."""
    from govmail import lab as lab_mod
    lab_mod.down(list(names) or None)


@lab.command("status")
def lab_status():
    from govmail import lab as lab_mod
    for host, running in lab_mod.status():
        click.echo(f"{host.name:<10} {host.address:<15} {'running' if running else 'stopped'}")


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def lab_ssh(name, command):
    """Open a shell (or run COMMAND) on a lab host."""
    import os
    from govmail import lab as lab_mod
    hosts = lab_mod.load_hosts()
    if name not in hosts:
        raise BadInput(f"no lab host named '{name}' (hosts: {', '.join(hosts) or 'none'})")
    argv = lab_mod.ssh_command(hosts[name], list(command))
    os.execvp(argv[0], argv)


@lab.command("remove")
@click.argument("names", nargs=-1, required=True)
def lab_remove(names):
    """Stop these hosts and delete everything on them (a dead disk): a later `up` boots them fresh."""
    from govmail import lab as lab_mod
    lab_mod.remove(list(names))


@lab.command("destroy")
@click.option("--purge", is_flag=True, help="Also delete the cached root filesystems and package cache.")
def lab_destroy(purge):
    """Remove every host, the bridge, DNS and proxy."""
    from govmail import lab as lab_mod
    lab_mod.destroy(purge)


main.add_command(cli_accounts.account)
main.add_command(cli_accounts.store)
main.add_command(cli_accounts.sweep)
main.add_command(cli_accounts.report)
main.add_command(cli_backup.backup)
main.add_command(cli_maintenance.maintenance_group)


@main.command()
@inventory_options
@click.pass_context
def status(ctx, inventory, province):
    """The mail host's health, from its Prometheus: services, queues, disks, certificates, signature and
    backup ages, alerts firing. Exit code 0 only when all is well (1: something is wrong; 4: the host or its
    Prometheus does not answer)."""
    from govmail import status as status_mod
    if not inventory:
        raise BadInput("govmail status needs --inventory (or $GOVMAIL_INVENTORY): it reads the mail host's "
                       "Prometheus")
    s = settings_mod.load(province, inventory)
    prometheus = status_mod.Prometheus(s)
    try:
        health = status_mod.check(s, prometheus)
    finally:
        prometheus.close()
    click.echo(status_mod.render(health))
    ctx.exit(0 if health.well else 1)


@main.command(context_settings={"ignore_unknown_options": True})
@inventory_options
@click.option("--allow-changes", is_flag=True,
              help="Also run the checks that change the host (test entries, mail, restarts), each undoing its own.")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JUnit XML.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def verify(ctx, inventory, province, allow_changes, junit_xml, pytest_args):
    """Check the inventory's mail host against its inventory and its province's regulation (the host suite,
    tests/infra, from a govmail checkout), read only unless --allow-changes. PYTEST_ARGS after `--` go to
    pytest (e.g. -k quota). Exit code 0 when every check holds; 1 when one does not; 2 bad input; 4 the host
    does not answer."""
    from govmail import verify as verify_mod
    if not inventory:
        raise BadInput("govmail verify needs --inventory (or $GOVMAIL_INVENTORY): the deployment to check")
    ctx.exit(verify_mod.run(inventory, province, allow_changes, junit_xml, pytest_args))


def _show_warning(message, category, *args, **kwargs) -> None:
    click.echo(f"warning: {message}", err=True)


def run() -> None:
    warnings.showwarning = _show_warning
    try:
        code = main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OperatorChoice as exc:
        click.echo(f"operator's choice: {exc}", err=True)
        sys.exit(exc.exit_code)
    except GovmailError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    # Outside standalone mode, click hands back a command's own exit code (click.exceptions.Exit) as the
    # return value: it must reach the shell (cron, CI).
    sys.exit(code if isinstance(code, int) else 0)

