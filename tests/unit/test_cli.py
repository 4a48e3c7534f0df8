"""The console entry point as an operator runs it: output and exit codes."""

import subprocess
import sys
from pathlib import Path

import pytest


def govmail(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "govmail.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_profile_list():
    out = govmail("profile", "list")
    assert out.returncode == 0
    assert "cantho-2005" in out.stdout and "superseded by cantho" in out.stdout


def test_profile_show_json_is_data():
    import json
    out = govmail("profile", "show", "danang", "--format", "json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["password"]["min_length"]["users"] == {"value": 12, "source": "3712/QĐ-UBND Điều 8.1.b",
                                                       "note": None}


def test_profile_show_superseded_warns():
    out = govmail("profile", "show", "cantho-2005")
    assert out.returncode == 0 and "superseded: use 'cantho'" in out.stderr


def test_profile_diff_hanam_danang():
    out = govmail("profile", "diff", "hanam", "danang")
    assert out.returncode == 0
    text = out.stdout
    assert "mailboxes.personal.quota:\n  hanam: at least 2GB   [27/2023/QĐ-UBND Điều 8.1.b]\n" \
           "  danang: 2GB   [3712/QĐ-UBND Điều 7.1]" in text
    assert "password.min_length.users:\n  hanam: 8" in text and "danang: 12   [3712/QĐ-UBND Điều 8.1.b]" in text
    assert "attachments.max_size: 20MB   [27/2023/QĐ-UBND Điều 8.1.b -> 3712/QĐ-UBND Điều 7.1]" in text
    assert "naming.person:\n  hanam: full   [27/2023/QĐ-UBND Điều 5.2.a]\n  danang: given_initials" in text


def test_render_writes_files_without_hosts(tmp_path: Path):
    out = govmail("render", "--province", "bacgiang", "--out", str(tmp_path))
    assert out.returncode == 0
    assert (tmp_path / "etc/postfix/main.cf").read_text().count("mail.bacgiang.gov.vn") >= 1
    from govmail.build.layout import BACKUP_COMPONENTS, FILES
    # A bare profile names no backup target: every template but the backup parts'.
    assert len(out.stdout.splitlines()) == len([f for f in FILES if f.template
                                                  and f.component not in BACKUP_COMPONENTS])


def test_render_from_the_lab_inventory(tmp_path: Path):
    out = govmail("render", "--inventory", "inventories/lab", "--out", str(tmp_path),
                  cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "etc/postfix/main.cf").is_file()
    # The lab inventory names a backup target: the backup parts are rendered too, for it.
    assert "repository = rest:https://backup:8000/" in (tmp_path / "etc/govmail/backup/backup.conf").read_text()
    assert (tmp_path / "etc/default/restic-rest-server").is_file()


@pytest.mark.parametrize("args, code, message", [
    (["profile", "show", "hanan"], 2, "did you mean 'hanam'"),
    (["address", "suggest", "--province", "hanam", "--kind", "person", "--name", "Lê 2"], 2, "digits"),
    (["address", "suggest", "--province", "cantho", "--kind", "person", "--name", "Nguyễn Văn Minh",
      "--taken", "nvminh", "--taken", "nvanminh", "--taken", "nguyenvanminh"], 3, "tried: nvminh, nvanminh"),
    (["address", "suggest", "--province", "hanam", "--kind", "robot", "--name", "X"], 2, "robot"),
    (["render", "--out", "/tmp/x"], 2, "no province"),
    (["backup", "run", "--province", "hanam"], 2, "names no backup target"),
])
def test_bad_input_exit_codes(args, code, message):
    out = govmail(*args)
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_address_suggest_prints_the_address():
    out = govmail("address", "suggest", "--province", "danang", "--kind", "person", "--name", "Ngô Văn Dũng",
                  "--taken", "dungnv@danang.gov.vn")
    assert out.returncode == 0 and out.stdout == "dungnv1@danang.gov.vn\n"
    assert "3712/QĐ-UBND Điều 3.3.a" in out.stderr


@pytest.mark.parametrize("province", ["../inventories/lab/govmail", "hanam/../danang", "/etc/passwd"])
def test_a_province_name_is_never_a_path(province):
    out = govmail("profile", "show", province)
    assert out.returncode == 2 and "is not a province name" in out.stderr, out.stderr


def test_a_command_s_own_exit_code_reaches_the_shell():
    """The sweep says 1 when a notice could not be sent: click returns such codes outside standalone mode."""
    script = ("import click, govmail.cli as cli\n"
              "@cli.main.command('fails-quietly')\n"
              "def fails():\n"
              "    raise click.exceptions.Exit(1)\n"
              "cli.run()\n")
    out = subprocess.run([sys.executable, "-c", script, "fails-quietly"], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    ok = subprocess.run([sys.executable, "-c", script, "profile", "list"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_import_help_lists_the_csv_columns():
    out = govmail("account", "import", "--help")
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.split("CSV columns")[1].splitlines()[1:] if line.strip()]
    assert listed == ["request", "kind", "name", "agency", "birth_date", "received", "address", "abbrev",
                      "agency_abbrev"]
