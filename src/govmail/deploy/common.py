"""Operations every service deploy uses: rendered files and Debian packages with debconf answers."""

from __future__ import annotations

from io import StringIO

from pyinfra.operations import apt, files, server, systemd


def put_rendered(files_content: dict[str, str], path: str, mode: str = "644", group: str = "root"):
    """Put one file rendered by govmail.render (same bytes whichever engine deploys)."""
    return files.put(name=f"Render {path}", src=StringIO(files_content[path]), dest=path,
                     user="root", group=group, mode=mode)


def install(service: str, packages: list[str], debconf: str | None = None) -> None:
    """Install packages, answering their debconf questions first so the postinst configures nothing
    govmail writes itself."""
    if debconf:
        answers = files.put(name=f"{service} debconf answers", src=StringIO(debconf),
                            dest=f"/etc/govmail/debconf/{service}", mode="600")
        server.shell(name=f"Load {service} debconf answers",
                     commands=[f"debconf-set-selections /etc/govmail/debconf/{service}"], _if=answers.did_change)
    apt.packages(name=f"Install {service}", packages=packages, no_recommends=True, update=True, cache_time=3600)


def any_changed(ops: list):
    """An `_if=` condition: true once any of these operations has changed something."""
    return lambda: any(op.did_change() for op in ops)


def restart_if_changed(services: list[str], changed: list, unit_files: bool = False) -> None:
    """Restart the services when any of their files changed; either way they run and start at boot."""
    if unit_files:
        systemd.daemon_reload(name="systemd reads govmail's unit files", _if=any_changed(changed))
        # `enabled=True` below only checks; a changed [Install] section needs its links made again.
        server.shell(name=f"Enable {', '.join(services)} as their units now say", _if=any_changed(changed),
                     commands=[f"systemctl reenable {' '.join(services)}"])
    for service in services:
        systemd.service(name=f"Restart {service} after a change", service=service, restarted=True,
                        _if=any_changed(changed))
        systemd.service(name=f"{service} runs", service=service, running=True, enabled=True)
