"""Watching a duel from any replica, through Redis (only when `LOCAL_DUEL_REDIS_URL` is set).

The replica running a duel publishes every frame its audience gets, already encoded,
on the pub/sub channel `duel:<id>` (8 bytes of seconds of audio, then the frame), keeps
the story so far for late joiners in the key `duel:<id>:story`, and keeps the key
`duel:<id>:alive` for `ALIVE_SECONDS`, renewed four times as often. Another replica
serves a viewer from those: it subscribes, sends the `duel-state` from the story, then
forwards the stream through the same bounded `Viewer` a local socket gets, until the end mark. If
`alive` lapses first, its replica is gone: every relayed viewer gets a fatal
`error` event with code `replica-gone`, and the history marks the duel `interrupted`.

A relayed viewer's heckles and votes go the other way: published on `duel:<id>:acts`,
taken by the running replica as if its own viewer had sent them; an answer meant for
that viewer alone (a refusal) comes back on `duel:<id>:to:<viewer>`.
"""

import asyncio
import contextlib
import json
import secrets
import struct
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from fastapi import WebSocket
from loguru import logger
from pipecat.serializers.protobuf import ProtobufFrameSerializer
from redis import RedisError
from redis.asyncio.client import PubSub

from local_duel.core.shared import PREFIX
from local_duel.pipeline.events import DuelEvent, urgent_event
from local_duel.server.guard import voter
from local_duel.server.ws.viewers import Viewer

ALIVE_SECONDS = 1.0
STORY_SECONDS = 3600  # a story outlives its duel by no more than this, whatever happens
HEADER = struct.Struct("!d")  # seconds of audio in the frame (0 for an event)
OVER = -1.0  # in the header, with no frame: the duel has ended


def _keys(duel_id: str) -> tuple[str, str, str]:
    duel = f"{PREFIX}duel:{duel_id}"
    return duel, f"{duel}:story", f"{duel}:alive"


def _acts(duel_id: str) -> str:
    return f"{PREFIX}duel:{duel_id}:acts"


def _to(duel_id: str, viewer: str) -> str:
    return f"{PREFIX}duel:{duel_id}:to:{viewer}"


def relay_client(url: str) -> aioredis.Redis:
    """A client for the relay: frames are bytes, so nothing is decoded."""
    return aioredis.Redis.from_url(url)


async def _event(name: DuelEvent, **data) -> bytes:
    return await ProtobufFrameSerializer().serialize(urgent_event(name, **data))


class Relayed:
    """A viewer on another replica, as the running duel sees it when it acts: what is
    offered to it alone goes back through Redis."""

    host = False

    def __init__(self, name: str, reply: Callable[[bytes], None], voter: str = ""):
        self.name = name
        self.voter = voter or name
        self._reply = reply

    def offer(self, data: bytes, seconds: float = 0.0) -> bool:
        self._reply(HEADER.pack(seconds) + data)
        return True


class Publisher:
    """The running replica's side: what its audience gets, to Redis, in order; and what
    viewers elsewhere do, to `act` (`LiveDuel.act`)."""

    def __init__(self, redis: aioredis.Redis, duel_id: str, snapshot: Callable[[], dict],
                 act: Callable[[Relayed, object, object], Awaitable[None]]):
        self._redis = redis
        self._id = duel_id
        self._channel, self._story, self._alive = _keys(duel_id)
        self._snapshot = snapshot  # the late joiner's state: the story and the votes
        self._act = act
        self._queue: asyncio.Queue[tuple[str, str, bytes] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._sender = loop.create_task(self._send())
        self._beating = loop.create_task(self._beat())
        self._taking = loop.create_task(self._take_acts())
        self.keep_story()  # at once: a viewer elsewhere may join before the first event

    def publish(self, data: bytes, seconds: float) -> None:
        self._queue.put_nowait(("publish", self._channel, HEADER.pack(seconds) + data))

    def keep_story(self) -> None:
        self._queue.put_nowait(("set", self._story, json.dumps(self._snapshot()).encode()))

    async def _send(self) -> None:
        while (item := await self._queue.get()) is not None:
            kind, key, payload = item
            try:
                if kind == "publish":
                    await self._redis.publish(key, payload)
                else:
                    await self._redis.set(key, payload, ex=STORY_SECONDS)
            except RedisError as e:  # Redis away: remote viewers miss this, local ones do not
                logger.warning(f"could not relay to Redis: {e}")

    async def _take_acts(self) -> None:
        """Heckles and votes from viewers on other replicas, one at a time, in order."""
        try:
            async with self._redis.pubsub() as pubsub:
                await pubsub.subscribe(_acts(self._id))
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    try:
                        act = json.loads(message["data"])
                        name, action, data = str(act["viewer"]), act.get("action"), act.get("data")
                        who = str(act.get("voter") or name)
                    except (ValueError, TypeError, KeyError, AttributeError) as e:
                        logger.warning(f"ignored a malformed relayed act: {e}")
                        continue
                    to = _to(self._id, name)
                    await self._act(Relayed(name, lambda payload, to=to: self._queue.put_nowait(("publish", to, payload)), who), action, data)
        except RedisError as e:  # Redis away: viewers elsewhere can't act until the next duel
            logger.warning(f"stopped taking heckles and votes from other replicas: {e}")

    async def _beat(self) -> None:
        while True:
            try:
                await self._redis.set(self._alive, b"1", px=int(ALIVE_SECONDS * 1000))
            except RedisError as e:
                logger.warning(f"could not renew {self._alive}: {e}")
            await asyncio.sleep(ALIVE_SECONDS / 4)

    async def close(self) -> None:
        """The duel is over: send what is queued and the end, then let the keys go."""
        self._queue.put_nowait(("publish", self._channel, HEADER.pack(OVER)))
        self._queue.put_nowait(None)
        await asyncio.gather(self._sender, return_exceptions=True)
        for task in (self._beating, self._taking):
            task.cancel()
        await asyncio.gather(self._beating, self._taking, return_exceptions=True)
        with contextlib.suppress(RedisError):  # if Redis is away, the keys lapse on their own
            await self._redis.delete(self._story, self._alive)


class RemoteDuel:
    """A duel running on another replica, as `/ws` sees it: each viewer admitted here is
    relayed from Redis, and its heckles and votes are passed on to where the duel runs."""

    def __init__(self, redis: aioredis.Redis, duel_id: str, backlog_seconds: float, on_gone: Callable[[], Awaitable[None]]):
        self.id = duel_id
        self._redis = redis
        self._backlog = backlog_seconds
        self._on_gone = on_gone
        self._relays: dict[str, tuple[asyncio.Task, PubSub]] = {}

    def viewer(self, websocket: WebSocket, host: bool) -> Viewer:
        return Viewer(websocket, f"viewer-{secrets.token_hex(3)}", False, self._backlog, voter(websocket.scope))

    async def admit(self, viewer: Viewer) -> None:
        if viewer.name not in self._relays:
            # subscribed before the story is read (nothing falls between) and before this
            # viewer's next message, which may be an act whose answer comes back at once
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(_keys(self.id)[0], _to(self.id, viewer.name))
            self._relays[viewer.name] = asyncio.get_running_loop().create_task(self._relay(viewer, pubsub)), pubsub

    async def act(self, viewer: Viewer, action: object, data: object) -> None:
        """Passed on to the running replica, which answers as it would its own viewer."""
        async def refuse(code: str, message: str):
            viewer.offer(await _event(DuelEvent.REFUSED, action=action if isinstance(action, str) else None, code=code, message=message))

        if viewer.name not in self._relays:
            return await refuse("not-ready", "send RTVI client-ready first")
        try:
            taken = await self._redis.publish(_acts(self.id), json.dumps({"viewer": viewer.name, "voter": viewer.voter, "action": action, "data": data}))
        except RedisError as e:
            logger.warning(f"could not pass an act on to Redis: {e}")
            taken = 0
        if not taken:
            await refuse("elsewhere", "the server running this duel did not take it (it is ending, or out of reach); try again")

    async def leave(self, viewer: Viewer) -> None:
        if relay := self._relays.pop(viewer.name, None):
            task, pubsub = relay
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pubsub.aclose()  # the task's own `async with` may never have begun
        await viewer.stop()

    async def _relay(self, viewer: Viewer, pubsub: PubSub) -> None:
        """The story so far, then the stream, until the duel ends or its replica is gone."""
        _, story_key, alive_key = _keys(self.id)
        async with pubsub:
            story = await self._redis.get(story_key)
            for _ in range(4):  # a duel only just on stage there writes its story within a beat
                if story is not None:
                    break
                await asyncio.sleep(ALIVE_SECONDS / 4)
                story = await self._redis.get(story_key)
            if story is None:
                await self._gone(viewer)
                return
            viewer.offer(await _event(DuelEvent.DUEL_STATE, **json.loads(story), you=viewer.name, host=False))
            loop = asyncio.get_running_loop()
            checked = loop.time()
            while not viewer.gone:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=ALIVE_SECONDS / 4)
                if message is not None:
                    (seconds,) = HEADER.unpack_from(message["data"])
                    if seconds == OVER:
                        break
                    viewer.offer(message["data"][HEADER.size:], seconds)
                if loop.time() - checked >= ALIVE_SECONDS / 4:
                    checked = loop.time()
                    if not await self._redis.exists(alive_key):
                        await self._gone(viewer)
                        return
            viewer.finish()

    async def _gone(self, viewer: Viewer) -> None:
        viewer.offer(await _event(
            DuelEvent.ERROR, code="replica-gone", fatal=True,
            message="the server running this duel has gone away; the duel is over",
        ))
        await self._on_gone()
        viewer.finish()
