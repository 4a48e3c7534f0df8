"""`govmail status`: the mail host's health at a glance, read from its Prometheus (through SSH, as operators
reach it): each service (the other directory and store hosts' too), the mail queues, disks, certificates,
signature and backup ages, the directory's replication, the stores' copies, and the alerts firing. All is
well when no alert fires, every service runs and every scrape and probe answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from govmail import reach
from govmail.accounts import directory
from govmail.build.components import directory_host_units, watched_units
from govmail.build.layout import DISK_USED_PERCENT, MONITOR_PORTS
from govmail.build.render import backup_clients
from govmail.model.settings import Settings


@dataclass
class Health:
    host: str
    lines: list[tuple[str, str]] = field(default_factory=list)    # (what, how it is)
    problems: list[str] = field(default_factory=list)

    @property
    def well(self) -> bool:
        return not self.problems


class Prometheus:
    """Instant queries to Prometheus (on the monitor host or the mail host), through an SSH tunnel to its
    loopback port."""

    def __init__(self, s: Settings):
        self.target = directory.monitoring_target(s)
        self.tunnel = reach.Tunnel(self.target, MONITOR_PORTS["prometheus"])

    def query(self, expr: str) -> list[dict]:
        return self._get(f"query?query={urllib.parse.quote(expr)}")["result"]

    def query_scraped(self, expr: str, scraped: set[tuple[str, str]]) -> list[dict]:
        """query, without the series of hosts Prometheus no longer scrapes (see scraped_now); a result with
        no instance (an aggregate) is kept."""
        instances = {instance for _, instance in scraped}
        return [r for r in self.query(expr) if r["metric"].get("instance", "") in instances | {""}]

    def scraped_now(self) -> set[tuple[str, str]]:
        """(job, instance) of every target Prometheus scrapes now. After a restart that dropped targets (the
        mail host renamed), their last samples still answer queries for 5 minutes: no staleness marker."""
        return {(t["labels"]["job"], t["labels"]["instance"]) for t in self._get("targets?state=active")["activeTargets"]}

    def firing(self) -> list[dict]:
        """The alerts firing now, from the rule manager (the ALERTS series would still show, for five
        minutes, an alert that fired before a restart of Prometheus)."""
        return [a for a in self._get("alerts")["alerts"] if a["state"] == "firing"]

    def _get(self, path: str) -> dict:
        url = f"http://127.0.0.1:{self.tunnel.port}/api/v1/{path}"
        try:
            with urllib.request.urlopen(url, timeout=15) as answer:
                return json.load(answer)["data"]
        except (OSError, urllib.error.URLError, ValueError, KeyError) as err:
            raise reach.Unreachable(f"Prometheus on {self.target.address} does not answer: {err}") from None

    def close(self) -> None:
        self.tunnel.close()


def _value(result: dict) -> float:
    return float(result["value"][1])


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} hours"


def check(s: Settings, prometheus: Prometheus) -> Health:
    health = Health(s.mail_host)
    scraped = prometheus.scraped_now()

    def q(expr: str) -> list[dict]:
        return prometheus.query_scraped(expr, scraped)

    services(health, s, q)
    down = [r for r in q("up == 0 or probe_success == 0")
            if (r["metric"].get("job"), r["metric"].get("instance")) in scraped]
    for r in down:
        health.problems.append(f"{r['metric'].get('instance', r['metric']['job'])} does not answer "
                               f"({r['metric']['job']})")
    mail_queues(health, s, q)
    for r in q(DISK_USED_PERCENT):
        on = "" if r["metric"].get("instance") == s.mail_host else f" on {r['metric'].get('instance')}"
        health.lines.append((f"disk {r['metric']['mountpoint']}{on}", f"{_value(r):.0f}% used"))
    expiry = q("min(probe_ssl_earliest_cert_expiry - time())")
    health.lines.append(("certificates", f"the first expires in {_days(_value(expiry[0]))}" if expiry
                         else "no TLS probe answered"))
    for r in q("time() - govmail_clamav_database_timestamp_seconds"):
        health.lines.append((f"signatures {r['metric']['database']}", f"{_days(_value(r))} old"))
    backups(health, s, q)
    replication(health, q)
    store_copies(health, s, q)
    floating_address(health, s, q)
    webmail_database(health, s, q)
    firing = prometheus.firing()
    health.lines.append(("alerts firing", ", ".join(sorted(_alert_name(r) for r in firing)) or "none"))
    health.problems += [f"alert {_alert_name(r)}" for r in firing]
    return health


def mail_queues(health: Health, s: Settings, q) -> None:
    """Postfix's queues on each MX host: the mail host's line first, then `mail queues on <MX>`."""
    counts: dict[str, dict[str, int]] = {host: {} for host in (s.mail_host, *s.mx_hosts)}
    for r in q("sum by (instance, queue) (postfix_showq_message_age_seconds_count)"):
        counts.setdefault(r["metric"].get("instance", "?"), {})[r["metric"].get("queue", "?")] = int(_value(r))
    for host, queues in counts.items():
        label = "mail queues" if host == s.mail_host else f"mail queues on {host}"
        health.lines.append((label, ", ".join(f"{k} {v}" for k, v in sorted(queues.items())) or "empty"))


def services(health: Health, s: Settings, q) -> None:
    """The units govmail runs on each host the monitoring scrapes: the mail host's, and each other directory
    provider's (a store's too)."""
    hosts = {s.mail_host: watched_units(s), **{p.name: directory_host_units(s, p.name) for p in s.directory_providers[1:]}}
    active = {(r["metric"].get("instance"), r["metric"]["name"])
              for r in q('node_systemd_unit_state{state="active"} == 1')}
    for instance, units in hosts.items():
        stopped = [unit for unit in units if (instance, unit) not in active]
        health.lines.append(("services" if instance == s.mail_host else f"services on {instance}",
                             f"{len(units) - len(stopped)}/{len(units)} running"
                             + (f"; not running: {', '.join(stopped)}" if stopped else "")))
        health.problems += [f"{unit} is not running" + ("" if instance == s.mail_host else f" on {instance}")
                            for unit in stopped]


def backups(health: Health, s: Settings, q) -> None:
    """The last successful backup of each host that backs up: the mail host, and each store apart (its
    mailboxes, in a repository of its own)."""
    age = {r["metric"].get("instance"): _value(r) for r in q("time() - govmail_backup_last_success_timestamp_seconds")}
    for client in backup_clients(s):
        seconds = age.get(client)
        health.lines.append(("last backup" if client == s.mail_host else f"last backup of {client}",
                             f"{_days(seconds)} ago" if seconds is not None and seconds < 1e9 else "never succeeded"))


def store_copies(health: Health, s: Settings, q) -> None:
    """With stores apart, each store's copy to its partner: what a failover of that store would give back is as
    old as the last copy that copied every mailbox (the StoreCopyOld alert's three intervals)."""
    if not s.stores_apart:
        return
    age = {r["metric"]["store"]: _value(r) for r in q("time() - govmail_store_copy_last_success_timestamp_seconds")}
    failed = {r["metric"]["store"]: int(_value(r)) for r in q("govmail_store_copy_failures")}
    for store, partner in s.store_partners.items():
        what = f"copy {store} -> {partner}"
        if failed.get(store):
            health.lines.append((what, f"{failed[store]} mailbox(es) failed in the last run"))
            health.problems.append(f"{store} could not copy {failed[store]} mailbox(es) to {partner}")
        elif store in age:
            health.lines.append((what, f"last whole copy {_days(age[store])} ago"))
            if age[store] > 3 * s.store_copy_seconds:
                health.problems.append(f"{store}'s last whole copy to {partner} is {_days(age[store])} old")
        else:
            health.lines.append((what, f"no run yet (every {s.store_copy_seconds // 60} minutes)"))


def floating_address(health: Health, s: Settings, q) -> None:
    """With several fronts, which holds the users' floating address (each front's keepalived writes its state):
    exactly one should."""
    if not s.floating:
        return
    holders = sorted(r["metric"].get("instance", "?") for r in q("govmail_front_holds_floating_address == 1"))
    held = " and ".join(holders) or "no front"
    health.lines.append((f"floating address {s.floating.address}", f"held by {held}"))
    if len(holders) != 1:
        health.problems.append(f"the floating address {s.floating.address} is held by {held}, not by one front")


def webmail_database(health: Health, s: Settings, q) -> None:
    """With several fronts, Roundcube's shared database: which front's server is the primary (one should be), and
    whether each other front's standby streams from it."""
    if not s.floating:
        return
    primaries = sorted(r["metric"].get("instance", "?") for r in q("govmail_webmail_db_primary == 1"))
    health.lines.append(("webmail database", "primary on " + (" and ".join(primaries) or "no front")))
    if len(primaries) != 1:
        health.problems.append(f"Roundcube's database has {len(primaries)} primaries, not one")
    for r in q("govmail_webmail_db_streaming and govmail_webmail_db_primary == 0"):
        instance = r["metric"].get("instance", "?")
        streaming = _value(r) == 1
        health.lines.append((f"webmail database {instance}", "standby streaming" if streaming else "standby NOT streaming"))
        if not streaming:
            health.problems.append(f"{instance}'s copy of Roundcube's database does not stream from the primary")


def replication(health: Health, q) -> None:
    """Whether each provider's slapd streams the others' changes (several directory providers only): while it
    does, it is behind by the replication delay alone (milliseconds, bench/replication.py); while it does not,
    by whatever was written on the other since it last heard from it."""
    heard = {(r["metric"]["instance"], r["metric"]["provider"]): _value(r)
             for r in q("time() - govmail_slapd_replication_contact_timestamp_seconds")}
    for r in q("govmail_slapd_replication_streaming"):
        instance, provider = r["metric"]["instance"], r["metric"]["provider"]
        if _value(r) == 1:
            health.lines.append((f"directory {instance} <- {provider}", "streaming"))
            continue
        since = heard.get((instance, provider), 0)
        health.lines.append((f"directory {instance} <- {provider}", "NOT streaming" + (
            f", last heard {_days(since)} ago" if 0 < since < 1e9 else ", never heard")))
        health.problems.append(f"{instance} does not receive the directory's changes from {provider}")


def _alert_name(alert: dict) -> str:
    labels = alert["labels"]
    about = (labels.get("name") or labels.get("mountpoint") or labels.get("database") or labels.get("provider")
             or labels.get("instance"))
    return f"{labels['alertname']} ({about})" if about else labels["alertname"]


def render(health: Health) -> str:
    width = max(len(what) for what, _ in health.lines)
    lines = [f"{health.host}: {'all is well' if health.well else 'NOT WELL'}"]
    lines += [f"  {what:<{width}}  {how}" for what, how in health.lines]
    lines += [f"  ! {problem}" for problem in health.problems]
    return "\n".join(lines)
