"""The compact form of a schedule: one string per rank (Schedule.from_strings / to_strings)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppnotes.schedules import Schedule, build_schedule, simulate


def test_from_strings_reads_what_from_actions_reads():
    text = ["0F0 0F1 0B0 0B1", "1F0 1B0 1F1 1B1"]
    schedule = Schedule.from_strings(text, name="two")
    assert schedule.tokens() == [s.split() for s in text]
    assert schedule.to_strings() == text
    assert schedule.name == "two" and schedule.num_ranks == 2 and schedule.num_microbatches == 2
    same = Schedule.from_actions([s.split() for s in text])
    assert simulate(schedule).makespan == simulate(same).makespan == 9.0  # (m + p - 1)(F + B)


def test_from_strings_accepts_any_whitespace():
    schedule = Schedule.from_strings(["  0F0\t0B0 ", "1F0\n 1I0   1W0"])
    assert schedule.to_strings() == ["0F0 0B0", "1F0 1I0 1W0"]


@given(
    name=st.sampled_from(["gpipe", "1f1b", "zb-h1", "zb-h2", "zbv"]),
    p=st.integers(1, 5),
    m=st.integers(1, 12),
)
def test_round_trip_of_every_named_schedule(name, p, m):
    if name in ("zb-h2", "zbv") and m < 2 * p - 1:
        m = 2 * p - 1
    original = build_schedule(name, p, m)
    again = Schedule.from_strings(original.to_strings(), name=name)
    assert again.tokens() == original.tokens()
    assert again.stage_to_rank == original.stage_to_rank
    assert simulate(again).makespan == simulate(original).makespan


def test_round_trip_of_interleaved():
    original = build_schedule("interleaved", 4, 8, v=2)
    assert Schedule.from_strings(original.to_strings()).tokens() == original.tokens()


@pytest.mark.parametrize(
    "per_rank, fragment",
    [
        (["0F0 0X0"], "per_rank[0] token 1 is '0X0'"),
        (["0F0 0B0", "1F0 F1"], "per_rank[1] token 1 is 'F1'"),
        (["0F0,0B0"], "token 0 is '0F0,0B0'"),
        (["0f0 0b0"], "token 0 is '0f0'"),
    ],
)
def test_bad_tokens_name_rank_position_and_text(per_rank, fragment):
    with pytest.raises(ValueError, match="expected '{stage}{kind}{microbatch}'") as error:
        Schedule.from_strings(per_rank)
    assert fragment in str(error.value)


@pytest.mark.parametrize("bad", ["0F0 0B0", b"0F0", 3, None])
def test_per_rank_must_be_a_list_of_strings(bad):
    with pytest.raises(ValueError, match="one string of tokens per rank"):
        Schedule.from_strings(bad)


def test_a_rank_must_be_a_string():
    with pytest.raises(ValueError, match=r"per_rank\[1\] must be a string"):
        Schedule.from_strings(["0F0 0B0", ["1F0", "1B0"]])


def test_from_actions_errors_still_apply():
    with pytest.raises(ValueError, match="rank 1 has no actions"):
        Schedule.from_strings(["0F0 0B0", "   "])
    with pytest.raises(ValueError, match="deadlock|waits"):
        Schedule.from_strings(["0F0 0B0 0F1 0B1", "1F0 1F1 1B0 1B1"])


def test_repr_reads_as_a_schedule_and_cuts_long_ranks():
    text = repr(build_schedule("1f1b", 2, 2))
    assert text.splitlines() == [
        "Schedule('1f1b': 2 ranks, 2 stages, 2 micro-batches)",
        "  rank 0: 0F0 0F1 0B0 0B1",
        "  rank 1: 1F0 1B0 1F1 1B1",
    ]
    long = repr(build_schedule("1f1b", 2, 20)).splitlines()
    assert long[1].endswith("... (+16)") and len(long[1].split(":")[1].split()) == 24 + 2
