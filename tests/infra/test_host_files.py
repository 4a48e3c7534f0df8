"""Both engines, one result, on the host itself: every file govmail puts there has the bytes, owner, group
and mode of govmail's model, whichever engine (GOVMAIL_ENGINE) deployed it."""

import pytest

from govmail import components

pytestmark = pytest.mark.infra


def test_every_file_on_the_host_is_the_models(host, deployment):
    s = deployment["settings"]
    content = components.host_files(s)
    wrong = []
    for part in components.components(s).values():
        if part.role != "mail":
            continue           # the backup host's parts: tests/e2e/test_backup.py checks them there
        for f in part.files:
            on_host = host.file(f.path)
            if not on_host.exists:
                wrong.append(f"{f.path}: missing")
                continue
            if on_host.content != content[f.path].encode():
                wrong.append(f"{f.path}: other bytes")
            if (on_host.user, on_host.group, on_host.mode) != ("root", f.group, int(f.mode, 8)):
                wrong.append(f"{f.path}: {on_host.user}:{on_host.group} {on_host.mode:o}, model says "
                             f"root:{f.group} {f.mode}")
    assert not wrong, "\n".join(wrong)
