"""Where a new mailbox lives (issue "Several hosts"): each mailbox names its store in the directory
(govmailStore), chosen when it is made: its agency's store, else the store holding the fewest mailboxes.
A real slapd with the deploy's schema; two stores named as an inventory's group `store` would name them."""

import datetime as dt
from dataclasses import replace

import pytest

from govmail.accounts import placement
from govmail.accounts.lifecycle import AddRequest, Lifecycle
from govmail.errors import BadInput

STORES = ("store1", "store2")


def with_stores(lifecycle: Lifecycle) -> Lifecycle:
    return Lifecycle(replace(lifecycle.settings, stores=STORES), lifecycle.conn, lifecycle.operator, lifecycle.clock)


def store_of(lifecycle: Lifecycle, address: str) -> str | None:
    return lifecycle.find(address).store


def test_an_agency_goes_to_the_least_used_store_and_its_people_follow_it(lifecycle_for):
    placing = with_stores(lifecycle_for("hanam", purpose="placement"))
    before = dict(placing.store_counts())
    agency = placing.add(AddRequest("agency", "Sở Nội vụ Thử Kho"))
    emptiest = min(STORES, key=lambda store: (before[store], STORES.index(store)))
    assert store_of(placing, agency.address) == emptiest
    people = [placing.add(AddRequest("person", name, agency="Sở Nội vụ Thử Kho"))
              for name in ("Nguyễn Văn Kho", "Trần Thị Kho", "Lê Văn Kho")]
    assert [store_of(placing, p.address) for p in people] == [emptiest] * 3


def test_a_new_agency_goes_where_fewer_mailboxes_are(lifecycle_for):
    placing = with_stores(lifecycle_for("hanam", purpose="placement"))
    counts = placing.store_counts()
    fuller, emptier = sorted(STORES, key=lambda store: (-counts[store], STORES.index(store)))
    assert counts[fuller] > counts[emptier], counts          # the test above filled one store
    agency = placing.add(AddRequest("agency", "Sở Tài chính Thử Kho"))
    assert store_of(placing, agency.address) == emptier


def test_one_store_holds_every_mailbox_on_a_single_node(lifecycle_for):
    single = lifecycle_for("hanam", purpose="placement-single")
    agency = single.add(AddRequest("agency", "Sở Xây dựng Thử Kho"))
    assert store_of(single, agency.address) == single.settings.mail_host


def test_a_move_is_refused_by_name_before_anything_changes(lifecycle_for):
    """Refusals come before any copy: one store only, an unknown store, the store it is on already."""
    single = lifecycle_for("hanam", purpose="placement-single")
    single.add(AddRequest("agency", "Sở Giao thông Thử Kho"))
    person = single.add(AddRequest("person", "Phạm Văn Chuyển", agency="Sở Giao thông Thử Kho"))
    with pytest.raises(BadInput, match="one store"):
        placement.move(single, person.address, "store2")
    placing = Lifecycle(replace(single.settings, stores=("mail1", *STORES)), single.conn,
                        single.operator, single.clock)
    with pytest.raises(BadInput, match="unknown store 'store9': the stores are mail1, store1, store2"):
        placement.move(placing, person.address, "store9")
    placing.set_store(placing.find(person.address), "store1")
    with pytest.raises(BadInput, match="is on store1 already"):
        placement.move(placing, person.address, "store1")
    assert store_of(single, person.address) == "store1"


def test_a_failback_finds_the_mailboxes_that_failed_over_from_that_store_alone(lifecycle_for):
    """What `govmail store failover` records (the store left, in each mailbox's audit) is what its failback reads:
    a mailbox moved to the partner by an operator, or failed over from another store, stays where it is, and so
    does one moved back since."""
    base = lifecycle_for("hanam", purpose="placement-failback")
    ring = Lifecycle(replace(base.settings, stores=("mail1", *STORES)), base.conn, base.operator, base.clock)
    assert ring.settings.store_partners == {"mail1": "store1", "store1": "store2", "store2": "mail1"}
    ring.add(AddRequest("agency", "Sở Y tế Thử Dự phòng"))
    people = [ring.add(AddRequest("person", name, agency="Sở Y tế Thử Dự phòng")).address
              for name in ("Vũ Văn Một", "Vũ Văn Hai", "Vũ Văn Ba", "Vũ Văn Bốn")]
    failed, moved, returned, other = (ring.find(a) for a in people)
    for account in (failed, moved, returned):
        ring.set_store(account, "store1")
    ring.set_store(failed, "store2", reason="store1 lost", action="failover", lost="store1")
    ring.set_store(ring.find(returned.mail), "store2", reason="store1 lost", action="failover", lost="store1")
    ring.clock = lambda: base.clock() + dt.timedelta(seconds=5)          # a later change, by the audit's time
    ring.set_store(ring.find(returned.mail), "store1", reason="back")
    ring.set_store(moved, "store2", reason="by hand")
    ring.set_store(other, "mail1")
    ring.set_store(ring.find(other.mail), "store2", reason="mail1 lost", action="failover", lost="mail1")
    assert [a.mail for a in placement.failed_over_from(ring, "store1")] == [failed.mail]
