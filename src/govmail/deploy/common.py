"""Operations every service deploy uses: rendered files and Debian packages with debconf answers."""

from __future__ import annotations

from io import StringIO

from pyinfra.operations import apt, files, server


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
