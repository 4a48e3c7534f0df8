"""Roundcube in a real browser, for the e2e suites: Debian's chromium, headless, driven by Selenium through
Debian's chromedriver. The browser resolves the mail host to the lab host and trusts only the deployment's
CA (its public key pinned), as a user's browser inside the province's network would."""

import base64
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

webdriver = pytest.importorskip("selenium.webdriver", reason="unavailable here: selenium is not installed")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTIFACTS = Path(os.environ.get("GOVMAIL_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


def ca_pin(env) -> str:
    """base64 SHA-256 of the deployment CA's public key, the form chromium's SPKI list takes."""
    ca = x509.load_pem_x509_certificate((env.secrets_dir / "ca.crt").read_bytes())
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def url(env, query="") -> str:
    return f"https://{env.s.mail_host}/{query}"


def wait_for(driver, css, timeout=20):
    """The element, once visible; else a failure naming the page it was not on."""
    try:
        return WebDriverWait(driver, timeout).until(ready.visibility_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(f"{css} not visible on {driver.current_url}: {page_text(driver)[:400]!r}") from None


def in_mail_view(driver, timeout=20):
    """The mail view has loaded (its message list may be empty, hence not visible) and its requests have
    answered: Roundcube writes the whole session at the end of each request, so a list request still running
    when the next page registers a compose session would write that registration away ("Requested compose
    session not found", seen once in CI)."""
    found = WebDriverWait(driver, timeout).until(ready.presence_of_element_located((By.ID, "messagelist")))
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return !!window.rcmail && rcmail.busy === false"))
    return found


def log_in(driver, env, address, password) -> None:
    driver.delete_all_cookies()
    driver.get(url(env))
    wait_for(driver, "#rcmloginuser").send_keys(address.split("@")[0])
    driver.find_element(By.ID, "rcmloginpwd").send_keys(password)
    submit = driver.find_element(By.ID, "rcmloginsubmit")
    submit.click()
    WebDriverWait(driver, 20).until(ready.staleness_of(submit))    # the login's answer has loaded


def open_inbox_with(browser, env, subject, wait=20) -> None:
    """The INBOX in webmail, once it lists `subject` (reloaded until then, for `wait` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        browser.get(url(env, "?_task=mail&_mbox=INBOX"))
        in_mail_view(browser)
        try:
            WebDriverWait(browser, 5).until(ready.text_to_be_present_in_element((By.ID, "messagelist"), subject))
            return
        except TimeoutException:
            if time.monotonic() > deadline:
                raise


def page_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def strong_password(env) -> str:
    special = env.s.policies["users"].class_chars["special"][0]
    return f"Hn{special}{uuid.uuid4().hex[:6]}{special}Matkhau9"


def start_browser(env):
    """A headless chromium for the lab's mail host (the suites' `browser` fixture)."""
    if not shutil.which("chromedriver"):
        pytest.skip("unavailable here: Debian's chromium-driver is not installed (scripts/bootstrap "
                    "installs it as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", "--lang=vi-VN",
                f"--host-resolver-rules=MAP {env.s.mail_host} {env.address}",
                f"--ignore-certificate-errors-spki-list={ca_pin(env)}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    driver.implicitly_wait(0)
    return driver


