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
