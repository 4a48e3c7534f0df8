"""Roundcube behind nginx and php-fpm on a host deployed by either engine (GOVMAIL_ENGINE)."""

import http.client

import pytest

from govmail.build.layout import PHP_VERSION

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("service", ["nginx", f"php{PHP_VERSION}-fpm"])
def test_web_services_run_and_start_at_boot(host, service, per_engine):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_no_apache_came_with_roundcube(host, per_engine):
    assert not host.package("apache2-bin").is_installed
    assert not host.package("libapache2-mod-php" + PHP_VERSION).is_installed


def test_plain_http_only_redirects_to_the_mail_host(deployment):
    mail_host = deployment.settings.mail_host
    conn = http.client.HTTPConnection(deployment.host.address, 80, timeout=10)
    conn.request("GET", "/?_task=mail", headers={"Host": mail_host})
    reply = conn.getresponse()
    assert reply.status == 301 and reply.getheader("Location") == f"https://{mail_host}/?_task=mail"


def test_roundcube_secrets_are_readable_by_the_web_server_only(host, per_engine):
    for path in ("/etc/roundcube/config.inc.php", "/etc/roundcube/plugins/password/config.inc.php"):
        config = host.file(path)
        assert config.group == "www-data" and config.mode == 0o640, path


def test_roundcube_reads_the_directory_as_its_own_service_account(host, deployment):
    s = deployment.settings
    search = host.run(f"ldapsearch -x -H ldap://127.0.0.1 -D cn=roundcube,ou=services,{s.base_dn} "
                      f"-w \"$(grep -oP \"'pw' => '\\K[^']+\" /etc/roundcube/config.inc.php)\" "
                      f"-b {s.base_dn} -s base dn")
    assert search.rc == 0, search.stderr
