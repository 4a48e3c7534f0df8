"""pyinfra entry point: `pyinfra inventories/lab/inventory.py deploy.py`.

The inventory's group data names the province and the inventory directory (govmail.yml); every file is
rendered on this machine from the one settings model (govmail.build.components, as Ansible's roles), then put on
the host.
"""

from pathlib import Path

from pyinfra import host

from govmail.build import components
from govmail.build.deploy import backup, common, filters, firewall, logging, mail, monitoring, openldap, webmail
from govmail.model import settings

if {"mail", "backup", "monitor", "directory", "store", "mx", "front"} & set(host.groups):
    s = settings.load(host.data.get("province"), Path(host.data.govmail_inventory))
    parts, content = components.components(s, host.name), components.host_files(s, host.name)
    facts = components.facts(s, content)

if "mail" in host.groups:
    openldap.directory(parts["openldap"], content, facts)
    filters.clamav(parts["clamav"], content, facts)
    filters.spamassassin(parts["spamassassin"], content)
    tls_ops = mail.tls(parts["tls"], content, facts)
    filters.opendkim(parts["opendkim"], content)
    mail.postfix(parts["postfix"], content, tls_ops)
    mail.dovecot(parts["dovecot"], parts["dovecot_front"], content, tls_ops, facts)
    webmail.nginx(parts["nginx"], content, tls_ops, facts)
    webmail.roundcube(parts["roundcube"], content)
    webmail.database(parts["webmail_db"], content, facts)
    filters.opendmarc(parts["opendmarc"], content)
    monitoring.exporters(parts["monitoring"], content)
    if parts["monitoring_server"].role == "mail":
        monitoring.server(parts["monitoring_server"], content)
    firewall.firewall(parts["firewall"], content)
    firewall.bans(parts["bans"], content)
    logging.logging(parts["logging"], content)
    if "backup" in parts:
        backup.client(parts["backup"], content, facts)
    mail.keepalived(parts["keepalived"], content)
    common.record_deploy(facts)

if "directory" in host.groups and "directory_firewall" in parts:
    openldap.provider(parts["openldap"], parts["directory_firewall"], content, facts)
    monitoring.exporters(parts["directory_monitoring"], content)

# Before a store's Dovecot: a front's Dovecot puts Postfix's SASL socket in Postfix's spool. A front's webmail
# comes before OpenDMARC, as on the mail host (components.py).
if "mx" in host.groups and host.name in s.mx_hosts:
    filters.clamav(parts["clamav"], content, facts)
    filters.spamassassin(parts["spamassassin"], content)
    tls_ops = mail.tls(parts["tls"], content, facts)
    filters.opendkim(parts["opendkim"], content)
    mail.postfix(parts["postfix"], content, tls_ops)
    if host.name in s.front_addresses:
        webmail.nginx(parts["nginx"], content, tls_ops, facts)
        webmail.roundcube(parts["roundcube"], content)
        webmail.database(parts["webmail_db"], content, facts)
    filters.opendmarc(parts["opendmarc"], content)
    logging.logging(parts["logging"], content)

if "store" in host.groups and "mail" not in host.groups and "dovecot_store" in parts:
    front_here = host.name in s.front_addresses      # an MX too: its certificates came with Postfix's
    mail.dovecot(parts["dovecot"], parts["dovecot_store"], content, tls_ops if front_here else [], facts)
    if "backup" in parts:
        backup.client(parts["backup"], content, facts)
    if front_here:
        firewall.bans(parts["bans"], content)
        mail.keepalived(parts["keepalived"], content)

if "monitor" in host.groups and parts["monitoring_server"].role == "monitor":
    monitoring.server(parts["monitoring_server"], content)

if "backup" in host.groups and "backup_server" in parts:
    backup.repository_server(parts["backup_server"], content, facts)
