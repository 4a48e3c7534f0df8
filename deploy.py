"""pyinfra entry point: `pyinfra inventories/lab/inventory.py deploy.py`.

The inventory's group data names the province and the inventory directory (govmail.yml); every file is
rendered on this machine from the one settings model, then put on the host.
"""

from pathlib import Path

from pyinfra import host

from govmail import render, settings
from govmail.deploy import openldap
from govmail.secrets import Secrets, store_dir

if "mail" in host.groups:
    inventory = Path(host.data.govmail_inventory)
    s = settings.load(host.data.get("province"), inventory)
    content = render.render_all(s, Secrets(store_dir(str(inventory))))
    openldap.directory(files_content=content, base_dn=s.base_dn)
