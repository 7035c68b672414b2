"""What replicas share, kept in this process (`InProcess`, the embedded default): two
replicas' views are one object. tests/e2e/test_shared_on_redis.py runs every test here
on a real Redis too, so the embedded default and the cluster behave alike."""

import asyncio

import pytest

from local_duel.core.shared import InProcess
from local_duel.server.admission import HOLD_SECONDS, LEASE_SECONDS, RUNNING_RETRY_SECONDS, Admission
from local_duel.server.limits import RateLimited, StartRate
from local_duel.server.schemas import DuelRequest
from local_duel.server.tickets import Ticket, Tickets
from local_duel.show.cast import DEFAULT_CAST, Cast


@pytest.fixture(params=["in-process"])
async def replicas():
    """Two replicas' views of the shared state: one object in process."""
    shared = InProcess()
    yield shared, shared


def a_ticket() -> Ticket:
    cast = Cast.from_file(DEFAULT_CAST)
    return Ticket.new(DuelRequest(cast=cast, topic="tea", turns=2), {cast.first.name: "screenplay", cast.second.name: "chat"})


async def test_a_ticket_issued_by_one_replica_is_redeemed_once_at_another(replicas):
    a, b = replicas
    ticket = a_ticket()
    token = await Tickets(a).issue(ticket)
    redeemed = await Tickets(b).redeem(token)
    assert redeemed == ticket
    assert await Tickets(a).redeem(token) is None
    assert await Tickets(b).redeem(token) is None


async def test_an_unredeemed_ticket_expires(replicas):
    a, b = replicas
    token = await Tickets(a, lifetime=0.2).issue(a_ticket())
    await asyncio.sleep(0.3)
    assert await Tickets(b).redeem(token) is None


async def test_start_rate_is_counted_across_replicas(replicas):
    a, b = replicas
    rates = [StartRate(a, 3), StartRate(b, 3)]
    for i in range(3):
        await rates[i % 2].admit("10.0.0.7")
    with pytest.raises(RateLimited) as refused:
        await rates[1].admit("10.0.0.7")
    assert 1 <= refused.value.retry_after <= 60
    assert "at most 3 a minute (LOCAL_DUEL_STARTS_PER_MINUTE)" in str(refused.value)
    await rates[0].admit("10.0.0.8")  # another client has its own count


async def test_the_stage_admits_up_to_its_limit_across_replicas_and_frees_places(replicas):
    a, b = replicas
    stages = [Admission(a, "replica-a"), Admission(b, "replica-b")]
    booked = [await stages[i % 2].book(f"duel-{i}", f"watch-{i}", 3, 60) for i in range(4)]
    assert booked == [True, True, True, False]
    assert await stages[1].size() == 3
    await stages[0].close("duel-0", "watch-0")
    assert await stages[1].book("duel-4", "watch-4", 3, 60)


async def test_a_watch_token_names_the_duel_and_then_the_replica_running_it(replicas):
    a, b = replicas
    stage_a, stage_b = Admission(a, "replica-a"), Admission(b, "replica-b")
    assert await stage_a.book("d1", "w1", 5, 60)
    assert (await stage_b.find("w1")).replica is None  # about to start
    assert await stage_b.open("d1", "w1", 1)
    where = await stage_a.find("w1")
    assert (where.duel_id, where.replica) == ("d1", "replica-b")
    await stage_b.close("d1", "w1")
    assert await stage_a.find("w1") is None
    assert await stage_a.find("") is None


async def test_a_place_nobody_renews_lapses(replicas):
    """A killed replica stops renewing: its duels stop counting, with nobody to tell."""
    a, b = replicas
    stage = Admission(a, "replica-a")
    assert await stage.book("d1", "w1", 1, 0.2)  # an unredeemed ticket's place
    assert not await Admission(b, "replica-b").book("d2", "w2", 1, 60)
    await asyncio.sleep(0.3)
    assert await Admission(b, "replica-b").book("d2", "w2", 1, 60)
    assert LEASE_SECONDS <= 10  # how long a killed replica's duels keep their places


async def test_racing_bookings_never_overbook_the_stage(replicas):
    a, b = replicas
    stages = [Admission(a, "a"), Admission(b, "b")]
    booked = await asyncio.gather(*(stages[i % 2].book(f"d{i}", f"w{i}", 5, 60) for i in range(40)))
    assert 1 <= sum(booked) <= 5
    assert await stages[0].size() == sum(booked)


async def test_an_unplayed_tickets_place_lapses_and_its_late_socket_books_again_or_is_refused(replicas):
    """A ticket whose socket never opens holds its place for HOLD_SECONDS only, and
    Retry-After says when that place frees; a socket that opens late books a place
    again, and is refused if the stage filled up meanwhile."""
    a, b = replicas
    stage = Admission(a, "a")
    assert await stage.book("d1", "w1", 1, 0.3)
    assert stage.retry_after() == 1  # 0.3 s to go, in whole seconds
    assert not await Admission(b, "b").book("d2", "w2", 1)
    await asyncio.sleep(0.4)
    assert stage.retry_after() == RUNNING_RETRY_SECONDS  # no hold left: a running duel's estimate
    assert await stage.open("d1", "w1", 1)  # late, but the place was free
    assert not await Admission(b, "b").book("d2", "w2", 1)
    await stage.close("d1", "w1")
    assert await Admission(b, "b").book("d2", "w2", 1)
    assert not await stage.open("d1", "w1", 1)  # late, and the stage is full now
    assert HOLD_SECONDS <= 5
