"""pyinfra inventory for the example on several hosts: the groups of hosts.yml (the same file Ansible reads),
the province from govmail.yml. Run: pyinfra inventories/cluster/inventory.py deploy.py"""

from pathlib import Path

import yaml

from govmail import reach

HERE = Path(__file__).resolve().parent
DEPLOYMENT = {"province": yaml.safe_load((HERE / "govmail.yml").read_text())["province"],
              "govmail_inventory": str(HERE)}


def _hosts(group: str) -> tuple[list, dict]:
    found = [(name, {"ssh_hostname": target.address, "ssh_user": target.user or "root",
                     **({"ssh_key": target.key} if target.key else {})})
             for name, target in reach.inventory_hosts(HERE, group)]
    return found, DEPLOYMENT


mail, directory, store, mx, front, backup, monitor = (_hosts(group) for group in
                                                      ("mail", "directory", "store", "mx", "front", "backup", "monitor"))
