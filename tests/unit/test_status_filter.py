"""govmail status reads only the series of hosts Prometheus scrapes now: after a province switch renames the mail
host, Prometheus's restart leaves the old name's last samples answering for 5 minutes (no staleness marker),
and status must not report that host's replication, queues or disks as this one's."""

from govmail.status import Prometheus


class Answers(Prometheus):
    """Prometheus's answers to one query, as its HTTP API returns them (no tunnel opened)."""

    def __init__(self, results):
        self.results = results

    def query(self, expr):
        return self.results


def series(value, **labels):
    return {"metric": labels, "value": [0, str(value)]}


def test_a_host_no_longer_scraped_is_left_out_and_aggregates_are_kept():
    renamed = series(0, instance="mail.hanam.gov.vn", provider="ldaps://store1/")
    current = series(1, instance="mail.danang.gov.vn", provider="ldaps://store1/")
    aggregate = series(825 * 86400)
    prometheus = Answers([renamed, current, aggregate])
    scraped = {("node", "mail.danang.gov.vn"), ("blackbox", "https://mail.danang.gov.vn/")}
    assert prometheus.query_scraped("anything", scraped) == [current, aggregate]


def test_every_series_is_left_out_when_nothing_is_scraped():
    prometheus = Answers([series(1, instance="mail.danang.gov.vn")])
    assert prometheus.query_scraped("anything", set()) == []


def test_status_names_the_front_holding_the_floating_address_and_faults_none_or_two():
    from types import SimpleNamespace
    from govmail.status import Health, floating_address
    s = SimpleNamespace(floating=SimpleNamespace(address="192.0.2.99"))
    for holders, line, well in ((["store1"], "held by store1", True), ([], "held by no front", False),
                                (["mail1", "store1"], "held by mail1 and store1", False)):
        health = Health("mail1")
        floating_address(health, s, lambda expr: [series(1, instance=name) for name in holders])
        assert health.lines == [("floating address 192.0.2.99", line)] and health.well == well


def test_status_names_the_webmail_databases_primary_and_faults_a_standby_not_streaming():
    from types import SimpleNamespace
    from govmail.status import Health, webmail_database
    s = SimpleNamespace(floating=SimpleNamespace(address="192.0.2.99"))

    def answers(primaries, standbys):
        return lambda expr: ([series(1, instance=name) for name in primaries] if expr.endswith("primary == 1")
                             else [series(value, instance=name) for name, value in standbys.items()])
    for primaries, standbys, lines, well in (
            (["mail1"], {"store1": 1}, [("webmail database", "primary on mail1"),
                                        ("webmail database store1", "standby streaming")], True),
            (["mail1"], {"store1": 0}, [("webmail database", "primary on mail1"),
                                        ("webmail database store1", "standby NOT streaming")], False),
            ([], {"store1": 0, "mail1": 0}, [("webmail database", "primary on no front"),
                                             ("webmail database store1", "standby NOT streaming"),
                                             ("webmail database mail1", "standby NOT streaming")], False),
            (["mail1", "store1"], {}, [("webmail database", "primary on mail1 and store1")], False)):
        health = Health("mail1")
        webmail_database(health, s, answers(primaries, standbys))
        assert (health.lines, health.well) == (lines, well), primaries
