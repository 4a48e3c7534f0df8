"""A real slapd on loopback, from the lab's cached trixie root: the version govmail deploys, configured
from the very files a deploy puts on a host. For the lifecycle tests and benchmarks, which need a
directory but not a booted host.

The root gets slapd installed once (cached beside the lab root). Each instance is an overlay of it
with the rendered files at their host paths; slapd runs chrooted in it, listening on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from govmail import lab
from govmail.build import components
from govmail.build import render
from govmail.build.components import OPENLDAP
from govmail.build.layout import SLAPD_DIR, SLAPD_TOOL
from govmail.build.secretstore import Secrets
from govmail.model.settings import DirectoryProvider, Settings
from govmail.reach import free_port


def slapd_root(suite: str = "trixie") -> Path:
    """The lab's cached root with slapd, slapd-contrib and ldap-utils installed (built once)."""
    root = lab.CACHE / f"root-{suite}-slapd"
    if (root / ".govmail-ready").exists():
        return root
    lab.require_root()
    lab.ensure_tools()
    base = lab.build_root(suite)
    lab.ensure_bridge()
    lab.ensure_proxy()      # apt inside goes through the lab's proxy, as on a lab host
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    lab.run(["cp", "-a", str(base), str(tmp)])
    (tmp / ".govmail-ready").unlink()
    (tmp / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (tmp / "usr/sbin/policy-rc.d").chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lab.run(["chroot", str(tmp), "sh", "-c",
             f"echo '{OPENLDAP.debconf.strip()}' | debconf-set-selections && "
             f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {' '.join(OPENLDAP.packages)}"],
            env=env)
    (tmp / ".govmail-ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    tmp.rename(root)
    return root


@dataclass
class Instance:
    settings: Settings
    secrets: Secrets
    top: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def merged(self) -> Path:
        return self.top / "merged"

    @property
    def url(self) -> str:
        """Its ldapi:// socket, where root acts as the root DN (as on a deployed host)."""
        return "ldapi://" + quote(str(self.merged / "run/slapd/ldapi"), safe="")

    def chroot(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return lab.run(["chroot", str(self.merged), *cmd], check=check)

    def _mount(self, root: Path) -> None:
        for d in ("upper", "work", "merged"):
            (self.top / d).mkdir(parents=True)
        lab.run(["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={root},upperdir={self.top / 'upper'},workdir={self.top / 'work'}", str(self.merged)])
        for fs in ("proc", "dev"):
            lab.run(["mount", "--bind", f"/{fs}", str(self.merged / fs)])

    def _put_files(self) -> None:
        """The openldap component's files as a deploy puts them: the rendered LDIF, slapd's TLS material and
        govmail-slapd."""
        content = {**render.render_all(self.settings, self.secrets),
                   **components.tls_material(self.settings, self.secrets)}
        for f in components.components(self.settings)["openldap"].files:
            target = self.merged / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content[f.path], encoding="utf-8")
            target.chmod(int(f.mode, 8))

    def _start(self) -> None:
        # govmail-slapd's rebuild-config, but for systemd (there is none in the chroot): slapd starts below.
        self.chroot("mkdir", "-p", "/etc/ldap/slapd.d", "/run/slapd", "/var/lib/ldap")
        self.chroot("slapadd", "-n0", "-F", "/etc/ldap/slapd.d", "-l", f"{SLAPD_DIR}/slapd-config.ldif")
        self.run_slapd()

    def run_slapd(self) -> None:
        """slapd on its configuration and data as they are (again, after stop_slapd)."""
        self.process = subprocess.Popen(
            ["chroot", str(self.merged), "/usr/sbin/slapd", "-d", "0", "-F", "/etc/ldap/slapd.d",
             "-h", f"ldap://127.0.0.1:{self.port}/ ldapi:///"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if self.process.poll() is not None:
                raise lab.LabError(f"slapd exited: {self.process.stderr.read().decode()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise lab.LabError("slapd did not listen within 5 s")

    def _load_tree(self) -> None:
        """The deploy's govmail-slapd steps after the configuration (no digest: no stamp to leave)."""
        for step in list(components.SLAPD_STEPS)[1:]:
            self.chroot(SLAPD_TOOL, step)

    def stop_slapd(self) -> None:
        """slapd alone stops (a provider down); its files stay for run_slapd."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fs in ("dev", "proc", ""):
            lab.run(["umount", str(self.merged / fs)], check=False)
        shutil.rmtree(self.top, ignore_errors=True)


def start(settings: Settings, secrets: Secrets, port: int | None = None, tree: bool = True) -> Instance:
    """A fresh directory for `settings`, as deployed (on `port`; without the tree: a provider that is to
    receive it by replication); stop() it when done."""
    root = slapd_root()
    instance = Instance(settings, secrets, lab.STATE / "slapd" / uuid.uuid4().hex[:12], port or free_port())
    try:
        instance._mount(root)
        instance._put_files()
        instance._start()
        if tree:
            instance._load_tree()
    except BaseException:
        instance.stop()
        raise
    return instance


def start_providers(settings: Settings, secrets: Secrets, count: int = 2) -> list[Instance]:
    """`count` directories for `settings` replicating as one (multi-provider), each on a port of its own; the
    tree loaded on the first alone, as a deploy loads it on one provider. stop() each when done."""
    ports: list[int] = []
    while len(ports) < count:
        ports += [port for port in [free_port()] if port not in ports]
    settings = replace(settings, directory_providers=tuple(
        DirectoryProvider(n, f"ldap://127.0.0.1:{port}/") for n, port in enumerate(ports, 1)))
    started: list[Instance] = []
    try:
        for n, port in enumerate(ports):
            started.append(start(settings, secrets, port, tree=n == 0))
    except BaseException:
        for instance in started:
            instance.stop()
        raise
    return started
