"""pyinfra entry point: `pyinfra inventories/lab/inventory.py deploy.py`.

The inventory's group data names the province and the inventory directory (govmail.yml); every file is
rendered on this machine from the one settings model, then put on the host.
"""

from pathlib import Path

from pyinfra import host

from govmail import render, settings, tls
from govmail.deploy import filters, mail, openldap, webmail

if "mail" in host.groups:
    inventory = Path(host.data.govmail_inventory)
    s = settings.load(host.data.get("province"), inventory)
    secrets = render.default_secrets(s)
    content = render.render_all(s, secrets)
    if s.tls_files:      # the operator's own certificate; its chain file also serves as slapd's CA file
        cert, key = (path.read_bytes() for path in s.tls_files)
        ca = b""
    else:
        names = [s.mail_host, *s.webmail_aliases, s.domain]
        key, cert, ca = tls.server_certificate(secrets.directory, inventory.name, names)
    openldap.directory(files_content=content, base_dn=s.base_dn, tls_key=key, tls_cert=cert, tls_ca=ca or cert)
    filters.clamav(files_content=content, mirror=s.clamav_mirror)
    filters.spamassassin(files_content=content)
    tls_ops = mail.tls(mail_host=s.mail_host, key=key, chain=cert + ca)
    mail.postfix(files_content=content, tls_ops=tls_ops)
    mail.dovecot(files_content=content, tls_ops=tls_ops)
    webmail.roundcube(files_content=content, tls_ops=tls_ops)
