"""What officials do every day in webmail, in a real browser (webpage.py): the province's address book,
an identity that follows the directory, out-of-office replies, and filters that keep the forwarding rule."""

import plistlib
import shlex
import time
import uuid

import pytest
from mailflow import (choose_password, delivered_count, govmail, message, messages, new_mailbox, submit,
                      wait_delivered)

from govmail import lab
from govmail.build.layout import POSTFIX_LOG

pytestmark = pytest.mark.e2e
webdriver = pytest.importorskip("selenium.webdriver", reason="unavailable here: selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from webpage import ARTIFACTS, in_mail_view, log_in, page_text, url, wait_for  # noqa: E402


def add_official(name: str, agency: str, local: str) -> tuple[str, str]:
    """(address, issued password) of a person made as an operator makes one."""
    line = govmail("account", "add", "--kind", "person", "--name", name, "--agency", agency, "--address", local).stdout
    address, issued = line.strip().split("\t")
    return address, issued


@pytest.fixture(scope="module")
def agency():
    tag = uuid.uuid4().hex[:6]
    line = govmail("account", "add", "--kind", "agency", "--name", f"Sở Văn hóa Thể thao {tag}",
                   "--abbrev", f"svhtt{tag}").stdout
    return {"address": line.split("\t")[0], "name": f"Sở Văn hóa Thể thao {tag}", "tag": tag}


def directory_value(env, address: str, attribute: str) -> str:
    env.admin.search(env.s.base_dn, f"(mail={address})", attributes=[attribute])
    return str(env.admin.entries[0][attribute].value)


def contacts_listed(driver) -> str:
    return driver.find_element(By.ID, "contacts-table").text


def test_the_address_book_finds_officials_typed_without_accents(browser, env, agency):
    tag = agency["tag"]
    person, _ = add_official("Nguyễn Văn Hùng", agency["address"], f"nvhung{tag}")
    gone, _ = add_official("Nguyễn Văn Hùng", agency["address"], f"nvhung2{tag}")
    govmail("account", "revoke", gone, "--reason", "nghỉ hưu", "--request", f"DB-{tag}")
    _, user, user_pw = new_mailbox(env)
    log_in(browser, env, user, user_pw)
    browser.get(url(env, "?_task=addressbook&_source=province"))
    wait_for(browser, "#directorylist")
    assert env.s.profile.name in browser.find_element(By.ID, "directorylist").text, "the province's book is listed"
    assert agency["name"] in browser.find_element(By.ID, "directorylist").text, "each agency is a group"

    box = wait_for(browser, "input#searchform")
    box.clear()
    box.send_keys("nguyen van hung")
    box.send_keys("\n")
    WebDriverWait(browser, 20).until(lambda d: "Nguyễn Văn Hùng" in contacts_listed(d))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"addressbook-{env.s.province}.png"))

    # Open the agency's group: the person is in it, the revoked namesake is in no list at all.
    group = next(e for e in browser.find_elements(By.CSS_SELECTOR, "#directorylist li a")
                 if e.text.strip() == agency["name"])
    group.click()
    WebDriverWait(browser, 20).until(lambda d: "Nguyễn Văn Hùng" in contacts_listed(d))
    rows = browser.find_elements(By.CSS_SELECTOR, "#contacts-table tbody tr")
    assert len([r for r in rows if "Nguyễn Văn Hùng" in r.text]) == 1, "the revoked mailbox is not listed"

    # Compose to the person found: select the row, then Compose (the address comes from the directory).
    next(r for r in rows if "Nguyễn Văn Hùng" in r.text).click()
    browser.execute_script("rcmail.command('compose')")
    WebDriverWait(browser, 20).until(lambda d: "_action=compose" in d.current_url)
    WebDriverWait(browser, 20).until(lambda d: person in (d.find_element(By.ID, "_to").get_attribute("value") or ""))
    browser.find_element(By.ID, "compose-subject").send_keys("Mời họp giao ban")
    browser.find_element(By.ID, "composebody").send_keys("Kính mời anh dự họp.")
    next(b for b in browser.find_elements(By.CSS_SELECTOR, "button.send") if b.is_displayed()).click()
    assert wait_delivered(env, person, 1, wait=20) == 1
    WebDriverWait(browser, 20).until(lambda driver: "_action=compose" not in driver.current_url)


def test_compose_completes_a_name_typed_without_accents(browser, env, agency):
    tag = agency["tag"]
    person, _ = add_official("Đặng Thị Ngọc Ánh", agency["address"], f"dtnanh{tag}")
    _, user, user_pw = new_mailbox(env)
    log_in(browser, env, user, user_pw)
    in_mail_view(browser)       # the login has finished (a CI run once found no compose page after it)
    browser.get(url(env, "?_task=mail&_action=compose"))
    wait_for(browser, "#_to + .recipient-input input, .recipient-input input").send_keys("dang thi ngoc anh")
    pane = WebDriverWait(browser, 20).until(ready.visibility_of_element_located((By.ID, "rcmKSearchpane")))
    WebDriverWait(browser, 20).until(lambda _: person in pane.text)
    assert "Đặng Thị Ngọc Ánh" in pane.text


def test_the_identity_follows_the_directory_at_each_login(browser, env, agency, once):
    tag = agency["tag"]
    person, issued = add_official("Trần Thị Lan", agency["address"], f"ttlan{tag}")
    password = choose_password(env, person, issued)
    log_in(browser, env, person, password)
    browser.get(url(env, "?_task=settings&_action=identities"))
    wait_for(browser, "#identities-table")
    assert directory_value(env, person, "displayName") in page_text(browser)

    govmail("account", "modify", person, "--name", "Trần Thị Lan Anh", "--request", f"DB-{tag}-name")
    renamed = directory_value(env, person, "displayName")
    assert "Lan Anh" in renamed
    log_in(browser, env, person, password)
    browser.get(url(env, "?_task=settings&_action=identities"))
    WebDriverWait(browser, 20).until(lambda d: renamed in d.find_element(By.ID, "identities-table").text)
    # The organisation is the agency's name; users edit the signature only.
    row = browser.find_element(By.CSS_SELECTOR, "#identities-table tbody tr")
    row.click()
    frame = WebDriverWait(browser, 20).until(ready.presence_of_element_located((By.ID, "preferences-frame")))
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, "form")
        assert agency["name"] in page_text(browser) or agency["name"] in browser.page_source
        assert not browser.find_elements(By.CSS_SELECTOR, "input[name=_name]:not([disabled])"), \
            "the name comes from the directory, not from the user"
    finally:
        browser.switch_to.default_content()


def set_out_of_office(browser, env, subject: str, text: str) -> None:
    browser.get(url(env, "?_task=settings&_action=plugin.managesieve-vacation"))
    wait_for(browser, "#vacation_subject")
    browser.find_element(By.NAME, "vacation_subject").send_keys(subject)
    browser.find_element(By.NAME, "vacation_reason").send_keys(text)
    browser.execute_script("document.querySelector('[name=vacation_status]').value = 'on'")
    browser.execute_script("rcmail.command('plugin.managesieve-save')")
    wait_for(browser, "#messagestack .confirmation, #messagestack div.alert-success", timeout=20)


def replies_to(env, address: str, subject: str) -> int:
    return sum(1 for m in messages(env, address) if subject in str(m["Subject"]))


def test_an_out_of_office_reply_goes_once_to_each_sender_and_never_to_lists(browser, env, once):
    _, away, away_pw = new_mailbox(env)
    _, writer, writer_pw = new_mailbox(env)
    _, lister, lister_pw = new_mailbox(env)
    log_in(browser, env, away, away_pw)
    in_mail_view(browser)
    set_out_of_office(browser, env, "Đang nghỉ phép", "Tôi nghỉ phép đến hết tuần, xin liên hệ văn phòng.")

    submit(env, writer, writer_pw, message(writer, away, subject="Hỏi về công văn số 1"))
    assert wait_delivered(env, writer, 1, wait=20) == 1 and replies_to(env, writer, "Đang nghỉ phép") == 1
    submit(env, writer, writer_pw, message(writer, away, subject="Hỏi về công văn số 2"))
    assert wait_delivered(env, away, 2, wait=20) == 2
    time.sleep(3)
    assert delivered_count(env, writer) == 1, "one reply per sender and period (Sieve vacation :days)"

    bulk = message(lister, away, subject="Bản tin tuần")
    bulk["List-Id"], bulk["Precedence"] = f"<bantin.{env.s.domain}>", "bulk"
    submit(env, lister, lister_pw, bulk)
    assert wait_delivered(env, away, 3, wait=20) == 3
    time.sleep(3)
    assert delivered_count(env, lister) == 0, "a list's mail gets no out-of-office reply"


def test_an_out_of_office_reply_reaches_a_sender_outside_government_mail(browser, env):
    """A reply is not a forward: it goes back to whoever wrote, also where redirects may not go."""
    _, away, away_pw = new_mailbox(env)
    log_in(browser, env, away, away_pw)
    in_mail_view(browser)
    set_out_of_office(browser, env, "Vắng mặt", "Tôi vắng mặt.")
    outsider = f"doanhnghiep{uuid.uuid4().hex[:6]}@ngoai.test"
    log = POSTFIX_LOG
    seen = int(lab.ssh(env.host, [f"wc -l < {log}"]).stdout)
    letter = shlex.quote(f"From: {outsider}\nTo: {away}\nSubject: Hỏi thủ tục\n\nXin hỏi thủ tục.\n")
    lab.ssh(env.host, [f"printf %s {letter} | /usr/sbin/sendmail -f {outsider} {away}"])
    deadline, lines = time.monotonic() + 30, []
    while not any(f"to=<{outsider}>" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(1)
        lines = lab.ssh(env.host, [f"tail -n +{seen + 1} {log}"]).stdout.splitlines()
    assert not any("sieve-forward" in line and "reject:" in line and outsider in line for line in lines), lines
    assert any(f"to=<{outsider}>" in line for line in lines), "the reply was queued for the outside sender"


def test_a_filter_redirecting_outside_is_refused_with_the_rule(browser, env):
    allowed = env.s.forward_allowed_domains
    if allowed is None:
        pytest.skip(f"{env.s.province} does not restrict automatic forwarding")
    _, user, user_pw = new_mailbox(env)
    target = "nguoinhan@ngoai.test"
    log_in(browser, env, user, user_pw)
    in_mail_view(browser)
    browser.get(url(env, "?_task=settings&_action=plugin.managesieve"))
    WebDriverWait(browser, 20).until(ready.presence_of_element_located((By.ID, "filterslist")))
    browser.execute_script("rcmail.command('plugin.managesieve-add')")
    frame = WebDriverWait(browser, 20).until(ready.visibility_of_element_located((By.ID, "filter-box")))
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, "input[name=_name]").send_keys("Chuyển thư ra ngoài")
        browser.execute_script("""
            var join = document.querySelector('[name="_join"]');
            join.value = 'any'; join.dispatchEvent(new Event('change'));
            var select = document.querySelector('[name="_action_type[0]"]');
            select.value = 'redirect'; select.dispatchEvent(new Event('change'));
        """)
        wait_for(browser, '[name="_action_target[0]"]').send_keys(target)
        browser.execute_script("rcmail.command('plugin.managesieve-save')")
    finally:
        browser.switch_to.default_content()
    # The form posts into its frame; the settings page shows the refusal.
    refusal = WebDriverWait(browser, 20).until(
        lambda d: next((e.text for e in d.find_elements(By.CSS_SELECTOR, "#messagestack div")
                        if "Không được tự động chuyển thư" in e.text), None))
    assert env.s.profile.forwarding.automatic.source in refusal and target in refusal
    scripts = lab.ssh(env.host, [f"for s in $(doveadm sieve list -u {user} | awk '{{print $1}}'); do "
                                    f"doveadm sieve get -u {user} $s; done"]).stdout
    assert target not in scripts, "nothing that redirects outside was saved"


def test_apple_devices_get_a_profile_with_the_protocols_the_regulation_allows(browser, env):
    s = env.s
    _, user, user_pw = new_mailbox(env)
    log_in(browser, env, user, user_pw)
    in_mail_view(browser)
    browser.get(url(env, "?_task=settings&_action=plugin.govmail-devices"))
    link = wait_for(browser, "#govmail-mobileconfig")
    fetched = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text().then(t => done([r.status,
            r.headers.get('content-type'), t])));
    """, link.get_attribute("href"))
    status, kind, text = fetched
    assert status == 200 and kind.startswith("application/x-apple-aspen-config"), fetched[:2]
    profile = plistlib.loads(text.encode())
    account = profile["PayloadContent"][0]
    incoming = ("EmailTypeIMAP", 993) if "imap" in s.protocols else ("EmailTypePOP", 995)
    assert (account["EmailAccountType"], account["IncomingMailServerPortNumber"]) == incoming
    assert account["IncomingMailServerHostName"] == account["OutgoingMailServerHostName"] == s.mail_host
    assert account["IncomingMailServerUseSSL"] and account["OutgoingMailServerUseSSL"]
    assert account["OutgoingMailServerPortNumber"] == 465
    assert account["EmailAddress"] == account["IncomingMailServerUsername"] == user
    assert profile["PayloadType"] == "Configuration" and account["PayloadType"] == "com.apple.mail.managed"
