"""Backups: restic and its timer on the mail host; on the backup host, the SFTP server its repository lives behind."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server

from ..components import Component
from .common import install, put_files, restart_if_changed


@deploy("Backups of the mail host")
def client(component: Component, content: dict[str, str], facts: dict):
    install(component)
    files.directory(name="Directory of the dumps each run copies", path=facts["backup"]["dumps"], mode="700")
    restart_if_changed(component, put_files(component, content))


@deploy("Backup repository host")
def repository_server(component: Component, content: dict[str, str], facts: dict):
    b = facts["backup"]
    install(component)
    server.group(name="Group of the backups' SFTP user", group=b["user"], system=True)
    server.user(name="The backups' SFTP user: no shell, no password", user=b["user"], group=b["user"],
                home="/nonexistent", shell="/usr/sbin/nologin", create_home=False, ensure_home=False,
                system=True)
    # sshd's chroot must belong to root and be writable by nobody else; each repository is the user's.
    files.directory(name="The repositories' directory (the SFTP chroot)", path=b["root"], user="root",
                    group="root", mode="755")
    files.directory(name="The mail host's repository", path=b["repository_dir"], user=b["user"], group=b["user"],
                    mode="700")
    restart_if_changed(component, put_files(component, content))
