"""The report's chart: bars in proportion, the biggest agency's as wide as the chart allows."""

from govmail.accounts.reports import chart


def test_bars_are_stacked_in_proportion_to_the_biggest_agency():
    drawn = chart({"Sở A": {"active": 3, "locked": 1, "revoked": 0}, "Sở B": {"active": 1, "locked": 0, "revoked": 1}})
    a, b = drawn.bars
    # 4 mailboxes fill the 600 px after the 300 px of names: 150 px each.
    assert a.segments == (("active", 300, 450.0, 3), ("locked", 750.0, 150.0, 1), ("revoked", 900.0, 0.0, 0))
    assert b.segments == (("active", 300, 150.0, 1), ("locked", 450.0, 0.0, 0), ("revoked", 450.0, 150.0, 1))
    assert (a.total, b.total) == (4, 2) and (a.total_x, b.total_x) == (904.0, 604.0)
    assert (a.rect_y, b.rect_y, b.text_y) == (3, 27, 39)
    assert (drawn.width, drawn.height, drawn.legend_y) == (920, 78, 60)


def test_a_province_without_mailboxes_draws_no_bar_and_divides_by_nothing():
    drawn = chart({"Sở C": {"active": 0, "locked": 0, "revoked": 0}})
    assert [width for _, _, width, _ in drawn.bars[0].segments] == [0.0, 0.0, 0.0]
