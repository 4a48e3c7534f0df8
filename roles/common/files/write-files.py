"""Writes the files of one govmail component that differ from the model, all in one call (the copy module costs
a round trip per file): standard input holds a JSON list of {path, content, mode, group}. Each file is written
beside its place and renamed over it (readers never see half a file), owned by root and the group, with the
mode; a missing directory is made 0755, an existing one keeps its owner and mode. Prints each path written.
`--root DIR` writes under DIR instead of / and leaves ownership alone (playbooks/render.yml)."""

import grp
import json
import os
import sys


def write(root: str, file: dict, own: bool) -> None:
    path = os.path.join(root, file["path"].lstrip("/"))
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    temporary = f"{path}.govmail-new"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        if own:
            os.fchown(out.fileno(), 0, grp.getgrnam(file["group"]).gr_gid)
        os.fchmod(out.fileno(), int(file["mode"], 8))
        out.write(file["content"])
    os.replace(temporary, path)


def main() -> None:
    root = sys.argv[2] if sys.argv[1:2] == ["--root"] else "/"
    for file in json.load(sys.stdin):
        write(root, file, own=root == "/")
        print(file["path"])


if __name__ == "__main__":
    main()
