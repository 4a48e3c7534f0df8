"""pyinfra inventory for the lab: the hosts `govmail lab up` wrote to hosts.yml (the same file Ansible
reads), the province from govmail.yml. Run: pyinfra inventories/lab/inventory.py deploy.py"""

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _hosts(group: str) -> list:
    path = HERE / "hosts.yml"
    if not path.exists():
        raise SystemExit(f"{path} is missing: start the lab first (govmail lab up)")
    data = yaml.safe_load(path.read_text())["all"]
    common = {
        "ssh_user": data["vars"]["ansible_user"],
        "ssh_key": data["vars"]["ansible_ssh_private_key_file"],
        # Lab hosts make their SSH host keys at first boot: never pin them (lab only).
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    members = (data["children"].get(group) or {}).get("hosts") or {}
    return [(name, {**common, "ssh_hostname": h["ansible_host"]}) for name, h in members.items()]


DEPLOYMENT = {"province": yaml.safe_load((HERE / "govmail.yml").read_text())["province"],
              "govmail_inventory": str(HERE)}
mail = (_hosts("mail"), DEPLOYMENT)
backup = (_hosts("backup"), DEPLOYMENT)
monitor = (_hosts("monitor"), DEPLOYMENT)
directory = (_hosts("directory"), DEPLOYMENT)
store = (_hosts("store"), DEPLOYMENT)
mx = (_hosts("mx"), DEPLOYMENT)
front = (_hosts("front"), DEPLOYMENT)
outside = _hosts("outside")
