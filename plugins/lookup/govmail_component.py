"""Ansible lookup: govmail's components for a host, from govmail's own settings model and renderer (what
pyinfra's deploy.py uses), so both engines install the same packages and put the same bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.utils.unsafe_proxy import wrap_var

DOCUMENTATION = """
name: govmail_component
short_description: a govmail component (packages, debconf answers, files with content, services)
description:
  - Calls C(govmail.build.components.for_engine) for an inventory, optionally switched to another province (the
    single variable). Returns, per term, the named component with a C(facts) key holding the few values
    the roles' own steps need; with no term, the whole model (C(components) in deploy order, C(facts)),
    which the common role keeps as the fact C(common_model) so that a play renders it once.
  - File content is marked unsafe so Ansible never templates it again.
options:
  _terms:
    description: Component names (openldap, clamav, spamassassin, tls, postfix, dovecot, nginx, roundcube).
    required: false
  inventory:
    description: The inventory directory holding govmail.yml.
    type: str
    required: true
  province:
    description: A province to switch to instead of the inventory's.
    type: str
    required: false
  host:
    description: The host (its hosts.yml name) whose files to render; a store host's backups are its own.
    type: str
    required: false
"""


def _load(inventory: str, province: str | None, host: str | None) -> dict:
    try:
        from govmail.build import components
        from govmail.model import settings
        from govmail.errors import BadInput
    except ImportError as err:
        raise AnsibleError(f"govmail is not importable by Ansible's Python ({err}): run Ansible from the "
                           "environment scripts/bootstrap made (.venv/bin/ansible-playbook)") from None
    try:
        model = components.for_engine(settings.load(province or None, Path(inventory)), host or None)
    except BadInput as err:
        raise AnsibleError(str(err)) from None
    for part in model["components"].values():
        for file in part["files"]:
            file["on_host"] = _as_probed(file)
    return model


def _as_probed(file: dict) -> str:
    """The line roles/common/tasks/component.yml's probe prints for this file when the host has it as the
    model says (mode, owner, group, SHA-256): one command tells which files a re-run must write."""
    digest = hashlib.sha256(file["content"].encode()).hexdigest()
    return f"{int(file['mode'], 8):o} root {file['group']} {digest}"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        model = _load(self.get_option("inventory"), self.get_option("province"), self.get_option("host"))
        parts = model["components"]
        unknown = [name for name in terms if name not in parts]
        if unknown:
            raise AnsibleError(f"not a govmail component: {', '.join(unknown)} (known: {', '.join(parts)})")
        chosen = [{**parts[name], "facts": model["facts"]} for name in terms] or [model]
        return [wrap_var(part) for part in chosen]
