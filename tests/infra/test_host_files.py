"""Both engines, one result, on the host itself: every file govmail puts there has the bytes, owner, group
and mode of govmail's model, whichever engine (GOVMAIL_ENGINE) deployed it."""

import base64
import io
import shlex
import tarfile

import pytest

from govmail.build import components

pytestmark = pytest.mark.infra


def host_copies(host, paths: list[str]) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Each file as the host has it (owner, group, mode and bytes), fetched in one tar stream over SSH; a
    missing file is absent from the answer."""
    words = " ".join(shlex.quote(p) for p in paths)
    packed = host.run(f"tar --ignore-failed-read -P -h -cf - {words} 2>/dev/null | base64 -w0").stdout
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(packed))) as archive:
        return {m.name: (m, archive.extractfile(m).read()) for m in archive.getmembers() if m.isfile()}


def test_every_file_on_the_host_is_the_models(host, deployment):
    s = deployment.settings
    content = components.host_files(s)
    # The backup host's parts: tests/e2e/test_backup.py checks them there.
    ours = [f for part in components.components(s).values() if part.role == "mail" for f in part.files]
    found = host_copies(host, [f.path for f in ours])
    wrong = []
    for f in ours:
        if f.path not in found:
            wrong.append(f"{f.path}: missing")
            continue
        info, data = found[f.path]
        if data != content[f.path].encode():
            wrong.append(f"{f.path}: other bytes")
        if (info.uname, info.gname, info.mode) != ("root", f.group, int(f.mode, 8)):
            wrong.append(f"{f.path}: {info.uname}:{info.gname} {info.mode:o}, model says root:{f.group} {f.mode}")
    assert not wrong, "\n".join(wrong)
