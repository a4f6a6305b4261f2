"""Version planning without a database: what both ways of loading (a batch, one file) write."""

from checks.versions import Arrival, NewSubmission, StoredVersions, plan_versions

EDU_2023 = ("EDU", 2023)
SCI_2023 = ("SCI", 2023)


def test_a_first_file_is_version_one_and_current() -> None:
    plan = plan_versions([Arrival("a", EDU_2023)], set(), {})

    assert plan.new == (NewSubmission(0, 1, None, None, is_current=True),)
    assert plan.new_of == {0: 0}
    assert plan.no_longer_current == ()


def test_a_new_version_follows_the_newest_stored_and_replaces_the_stored_current_one() -> None:
    stored = {EDU_2023: StoredVersions(newest=3, current_id=41)}  # version 3 was current, say

    plan = plan_versions([Arrival("b", EDU_2023)], set(), stored)

    assert plan.new == (NewSubmission(0, 4, 41, None, is_current=True),)
    assert plan.no_longer_current == (41,)


def test_in_one_batch_each_version_supersedes_the_one_before_and_only_the_last_is_current() -> None:
    stored = {EDU_2023: StoredVersions(newest=1, current_id=7)}
    arrivals = [Arrival("a", EDU_2023), Arrival("s", SCI_2023), Arrival("b", EDU_2023), Arrival("c", EDU_2023)]

    plan = plan_versions(arrivals, set(), stored)

    assert plan.new == (
        NewSubmission(0, 2, 7, None, is_current=False),
        NewSubmission(1, 1, None, None, is_current=True),
        NewSubmission(2, 3, None, 0, is_current=False),
        NewSubmission(3, 4, None, 2, is_current=True),
    )
    assert plan.no_longer_current == (7,)


def test_bytes_stored_already_or_seen_earlier_in_the_batch_are_duplicates_and_take_no_version() -> None:
    arrivals = [Arrival("old", EDU_2023), Arrival("a", EDU_2023), Arrival("a", EDU_2023), Arrival("b", EDU_2023)]

    plan = plan_versions(arrivals, {"old"}, {EDU_2023: StoredVersions(newest=1, current_id=5)})

    assert plan.repeats_stored == {0}
    assert plan.new_of == {1: 0, 2: 0, 3: 1}  # the third file repeats the second's submission
    assert [(new.arrival, new.version) for new in plan.new] == [(1, 2), (3, 3)]


def test_a_file_without_a_bureau_or_year_is_a_submission_without_a_version() -> None:
    stored = {EDU_2023: StoredVersions(newest=2, current_id=9)}

    plan = plan_versions([Arrival("x", None), Arrival("y", None)], set(), stored)

    assert plan.new == (NewSubmission(0, None, None, None, False), NewSubmission(1, None, None, None, False))
    assert plan.no_longer_current == ()  # nothing of the stored versions changes


def test_a_key_with_stored_versions_but_none_current_gets_the_next_number_and_becomes_current() -> None:
    plan = plan_versions([Arrival("z", EDU_2023)], set(), {EDU_2023: StoredVersions(newest=2, current_id=None)})

    assert plan.new == (NewSubmission(0, 3, None, None, is_current=True),)
    assert plan.no_longer_current == ()
