"""Ansible lookup: the files govmail manages, rendered by govmail itself (the function pyinfra uses)."""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.utils.unsafe_proxy import wrap_var

DOCUMENTATION = """
name: govmail_files
short_description: every file govmail manages, rendered from its settings model
description:
  - Calls C(govmail.render.render_all) for an inventory (and optionally another province), the function
    pyinfra's deploy.py uploads from, so both engines put the same bytes on a host.
  - Returns one dict, host path to file content. The content is marked unsafe so Ansible never templates
    it again.
options:
  _terms:
    description: Host paths to return; every managed file when none are given.
    required: false
  inventory:
    description: The inventory directory holding govmail.yml.
    type: str
    required: true
  province:
    description: A province to switch to instead of the inventory's (the single variable).
    type: str
    required: false
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            from govmail import render, settings
            from govmail.errors import BadInput
        except ImportError as err:
            raise AnsibleError(f"govmail is not importable by Ansible's Python ({err}): run Ansible from the "
                               "environment scripts/bootstrap made (.venv/bin/ansible-playbook)") from None
        try:
            chosen = settings.load(self.get_option("province") or None, Path(self.get_option("inventory")))
        except BadInput as err:
            raise AnsibleError(str(err)) from None
        files = render.render_all(chosen)
        unknown = [path for path in terms if path not in files]
        if unknown:
            raise AnsibleError(f"not a file govmail manages: {', '.join(unknown)}")
        return [wrap_var({path: files[path] for path in (terms or files)})]
