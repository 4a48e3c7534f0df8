"""The DNS records a province must publish for its mail to be found and trusted (`govmail dns`): MX (the
mail host and the MX hosts apart), the addresses of the mail host, of the MX hosts and of the names the mail
host serves over HTTPS (webmail aliases, MTA-STS, autoconfig), SPF, the DKIM key that signs, DMARC, MTA-STS
and TLS reporting, and the RFC 6186 service records for mail clients. Zone-file lines by default, JSON for
tools.

The records describe the deployment as the inventory has it: the mail host's addresses come from
`overrides.public_addresses`, else from its address in hosts.yml when it is an IP address; an MX host's from
hosts.yml.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from govmail import reach
from govmail.build import dkim
from govmail.build.layout import CLIENT_PORTS
from govmail.build.secretstore import Secrets
from govmail.model.settings import Settings

TTL = 3600
TXT_CHUNK = 255        # one character-string of a TXT record (RFC 1035 §3.3)
# RFC 6186/8314 service -> the protocol (profile) that must be offered
SERVICES = {"submissions": "submission", "submission": "submission", "imaps": "imap", "pop3s": "pop3"}
MTA_STS_MAX_AGE = 7 * 86400    # how long other servers keep the policy (RFC 8461 §3.2: up to a year)


@dataclass(frozen=True)
class Record:
    name: str          # fully qualified, without the trailing dot
    type: str
    value: str         # TXT: the text itself (split into strings only when written)
    ttl: int = TTL

    def zone_line(self) -> str:
        value = self.value
        if self.type == "TXT":
            value = " ".join(f'"{chunk}"' for chunk in txt_strings(self.value))
        elif self.type in ("MX", "SRV"):
            value += "."
        return f"{self.name}.\t{self.ttl}\tIN\t{self.type}\t{value}"


def txt_strings(text: str) -> list[str]:
    return [text[i:i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]


def mail_addresses(s: Settings) -> list[str]:
    """Where mail.<domain> answers: the override, else the inventory's mail host when it is given as an
    IP address (a name there says nothing about the public address)."""
    if s.public_addresses:
        return list(s.public_addresses)
    target = reach.mail_host(Path(s.inventory)) if s.inventory else None
    try:
        return [str(ipaddress.ip_address(target.address))] if target else []
    except ValueError:
        return []


def records(s: Settings, secrets: Secrets) -> list[Record]:
    domain, host, reports = s.domain, s.mail_host, f"mailto:postmaster@{s.domain}"
    # Every MX at the same preference: senders spread their mail over them and, when one does not answer,
    # try the next.
    found = [Record(domain, "MX", f"10 {name}") for name in (host, *s.mx_hosts)]
    # With fronts apart, users reach mail.<domain> at the floating address; the mail host's mail still leaves
    # from its own addresses, which SPF then names (its MX name is the floating address's).
    addresses = [s.floating.address] if s.floating else mail_addresses(s)
    for name in [host, *s.webmail_aliases, s.mta_sts_host, s.autoconfig_host]:
        found.extend(Record(name, "AAAA" if ":" in address else "A", address) for address in addresses)
    for name, address in s.mx_addresses.items():
        found.append(Record(name, "AAAA" if ":" in address else "A", address))
    senders = [*(mail_addresses(s) if s.floating else []), *s.defences.relays]
    relays = "".join(f" ip{'6' if ':' in str(net) else '4'}:{net}" for net in senders)
    found.append(Record(domain, "TXT", f"v=spf1 mx{relays} -all"))
    for key in (dkim.active(secrets, domain), dkim.upcoming(secrets, domain)):
        if key:
            found.append(Record(key.dns_name, "TXT", key.dns_value))
    found.append(Record(f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=quarantine; rua={reports}; ruf={reports}; fo=1"))
    found.append(Record(f"_mta-sts.{domain}", "TXT", f"v=STSv1; id={mta_sts_id(mta_sts_policy(s))}"))
    found.append(Record(f"_smtp._tls.{domain}", "TXT", f"v=TLSRPTv1; rua={reports}"))
    for service, protocol in SERVICES.items():
        if protocol in s.protocols:
            found.append(Record(f"_{service}._tcp.{domain}", "SRV", f"0 1 {CLIENT_PORTS[service]} {host}"))
    # Outlook's autodiscover, served on the autoconfig name (its certificate covers it).
    found.append(Record(f"_autodiscover._tcp.{domain}", "SRV", f"0 1 443 {s.autoconfig_host}"))
    return found


def mta_sts_policy(s: Settings) -> str:
    """The policy served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2, CRLF lines)."""
    lines = ["version: STSv1", f"mode: {s.mta_sts_mode}", *(f"mx: {name}" for name in (s.mail_host, *s.mx_hosts)),
             f"max_age: {MTA_STS_MAX_AGE}"]
    return "\r\n".join(lines) + "\r\n"


def mta_sts_id(policy: str) -> str:
    """The policy's id in DNS: other servers fetch the policy again when it changes, so it follows the text."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def zone(s: Settings, found: list[Record], secrets: Secrets) -> str:
    waiting = dkim.upcoming(secrets, s.domain)
    head = [f"; DNS records for {s.domain} ({s.profile.name}), from govmail dns: publish them in the zone.",
            f"; DKIM selector {dkim.active(secrets, s.domain).selector} signs"
            + (f"; {waiting.selector} is next (`govmail dkim rotate` once it is published)." if waiting else ".")]
    if not any(r.type in ("A", "AAAA") for r in found):
        head.append(f"; No A/AAAA for {s.mail_host}: set overrides.public_addresses in the inventory.")
    return "\n".join(head + [r.zone_line() for r in found]) + "\n"


def as_json(found: list[Record]) -> str:
    return json.dumps([asdict(r) for r in found], ensure_ascii=False, indent=2) + "\n"


def lookup_txt(name: str, resolver: str | None) -> str | None:
    """The TXT text at NAME as the world sees it (the inventory's resolver, else this machine's), or None."""
    import dns.exception
    import dns.resolver
    ask = dns.resolver.Resolver(configure=resolver is None)
    if resolver:
        ask.nameservers = [resolver]
    try:
        found = ask.resolve(name, "TXT", lifetime=10)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as err:
        raise reach.Unreachable(f"DNS lookup of {name} via {resolver or 'the system resolver'} failed: {err}") from None
    return "".join(b"".join(r.strings).decode() for r in found)
