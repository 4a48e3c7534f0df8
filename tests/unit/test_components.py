"""The one list both engines deploy from: every file govmail puts on a host belongs to one component, with
the owner and mode its readers need."""

from pathlib import Path

import pytest

from govmail.build import components
from govmail.build import layout
from govmail.build import render
from govmail.model import settings
from govmail.model.profile import known_provinces

INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "lab"


@pytest.fixture(scope="module")
def lab():
    return settings.load(None, INVENTORY)


@pytest.mark.parametrize("province", known_provinces())
def test_every_host_file_belongs_to_exactly_one_component(province):
    s = settings.load(province, INVENTORY)
    listed = [f.path for c in components.components(s).values() for f in c.files]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(components.host_files(s))
    assert set(layout.MANAGED_FILES.values()) <= set(listed)


def test_secrets_are_not_world_readable(lab):
    files = {f.path: f for c in components.components(lab).values() for f in c.files}
    cert, key = layout.tls_paths(lab.mail_host)
    assert files[key].mode == "0600" and files[cert].mode == "0644"
    for path in ("/etc/roundcube/config.inc.php", "/etc/postfix/ldap/mailboxes.cf", "/etc/dovecot/dovecot.conf",
                 f"{layout.SLAPD_DIR}/tls.key", f"{layout.SLAPD_DIR}/services.ldif"):
        assert files[path].mode == "0640" and files[path].group != "root", path


def test_the_certificate_comes_before_its_readers_and_php_before_roundcube(lab):
    order = list(components.components(lab))
    assert order.index("tls") < min(order.index(n) for n in ("postfix", "dovecot", "nginx"))
    assert order.index("nginx") < order.index("roundcube")      # php-fpm first: apt then pulls no Apache


def test_every_slapd_step_applies_files_of_the_openldap_component(lab):
    names = {Path(f.path).name for f in components.components(lab)["openldap"].files}
    tool = components.host_files(lab)[layout.SLAPD_TOOL]
    for step, applied in components.SLAPD_STEPS.items():
        assert set(applied) <= names, step
        assert f"\n{step})" in tool, step


def test_a_slapd_step_is_due_again_exactly_when_its_own_files_change(lab):
    content = components.host_files(lab)
    before = components.slapd_steps(content)
    policy = f"{layout.SLAPD_DIR}/ppolicy.ldif"
    after = components.slapd_steps({**content, policy: content[policy] + "\n"})
    changed = {step for step in before if before[step] != after[step]}
    assert changed == {"replace-policies"}
    assert components.slapd_steps(components.host_files(lab)) == before      # the same content, the same stamp
    for step, due in before.items():
        assert due["stamp"].startswith(f"{layout.SLAPD_STAMPS}/{step}-")
        assert due["command"].startswith(f"{layout.SLAPD_TOOL} {step} ")


def test_the_engine_model_carries_each_file_with_its_content(lab):
    model = components.for_engine(lab)
    content = components.host_files(lab)
    postfix = model["components"]["postfix"]
    assert postfix["services"] == ("govmail-from-milter", "govmail-attachment-milter", "postfix",
                                   "policyd-rate-limit", "prometheus-postfix-exporter") and postfix["files"]
    for f in postfix["files"]:
        assert f["content"] == content[f["path"]]


def test_signatures_are_fetched_again_exactly_when_freshclam_is_told_other_sources(lab):
    content = components.host_files(lab)
    conf = layout.MANAGED_FILES["clamav/freshclam.conf.j2"]
    before = components.signature_fetch(lab, content)
    assert before == components.signature_fetch(lab, components.host_files(lab))
    other = components.signature_fetch(lab, {**content, conf: content[conf] + "DatabaseCustomURL http://x/a.ndb\n"})
    assert other["stamp"] != before["stamp"] and other["command"] != before["command"]
    unchanged = {**content, layout.MANAGED_FILES["clamav/clamd.conf.j2"]: "changed\n"}
    assert components.signature_fetch(lab, unchanged) == before
    assert before["command"].startswith(f"{layout.CLAMAV_TOOL} fetch ") and "--warn-only" not in before["command"]
    assert before["stamp"].startswith(f"{layout.CLAMAV_STAMPS}/signatures-")


def test_a_deploy_without_signatures_warns_only_where_the_inventory_accepts_it(tmp_path):
    (tmp_path / "govmail.yml").write_text("province: hanam\noverrides: {clamav_without_signatures: true}\n")
    s = settings.load(inventory_dir=tmp_path)
    assert components.signature_fetch(s, components.host_files(s))["command"].endswith(" --warn-only")


def test_every_template_is_in_the_file_table_once():
    """A template that is not a host file is one another template includes or a report, never a forgotten one."""
    templates = {str(p.relative_to(render.TEMPLATES_DIR)) for p in render.TEMPLATES_DIR.rglob("*.j2")}
    listed = [f.template for f in layout.FILES + layout.DIRECTORY_FILES + layout.STORE_FILES + layout.KEEPALIVED_FILES
              + layout.WEBMAIL_DB_FILES
              if f.template]
    assert len(listed) == len(set(listed))
    assert templates - set(listed) == {"slapd/ppm.conf.j2", "report/report.html.j2", "logging/keep.inc.j2",
                                          "dovecot/conf.d/postfix-auth.inc.j2"}
    assert layout.MANAGED_FILES == {f.template: f.path for f in layout.FILES if f.template}
