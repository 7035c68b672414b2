"""Watching a duel from any replica, through Redis (only when `LOCAL_DUEL_REDIS_URL` is set).

The replica running a duel publishes every frame its audience gets, already encoded,
on the pub/sub channel `duel:<id>` (8 bytes of seconds of audio, then the frame), keeps
the story so far for late joiners in the key `duel:<id>:story`, and keeps the key
`duel:<id>:alive` for `ALIVE_SECONDS`, renewed four times as often. Another replica
serves a viewer from those: it subscribes, sends the `duel-state` from the story, then
forwards the stream through the same bounded `Viewer` a local socket gets, until the end mark. If
`alive` lapses first, its replica is gone: every relayed viewer gets a fatal
`error` event with code `replica-gone`, and the history marks the duel `interrupted`.
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

from local_duel.events import DuelEvent, urgent_event
from local_duel.server.audience import Viewer
from local_duel.shared import PREFIX

ALIVE_SECONDS = 1.0
STORY_SECONDS = 3600  # a story outlives its duel by no more than this, whatever happens
HEADER = struct.Struct("!d")  # seconds of audio in the frame (0 for an event)
OVER = -1.0  # in the header, with no frame: the duel has ended


def _keys(duel_id: str) -> tuple[str, str, str]:
    duel = f"{PREFIX}duel:{duel_id}"
    return duel, f"{duel}:story", f"{duel}:alive"


def relay_client(url: str) -> aioredis.Redis:
    """A client for the relay: frames are bytes, so nothing is decoded."""
    return aioredis.Redis.from_url(url)


async def _event(name: DuelEvent, **data) -> bytes:
    return await ProtobufFrameSerializer().serialize(urgent_event(name, **data))


class Publisher:
    """The running replica's side: what its audience gets, to Redis, in order."""

    def __init__(self, redis: aioredis.Redis, duel_id: str, snapshot: Callable[[], dict]):
        self._redis = redis
        self._channel, self._story, self._alive = _keys(duel_id)
        self._snapshot = snapshot  # the late joiner's state: the story and the votes
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._sender = loop.create_task(self._send())
        self._beating = loop.create_task(self._beat())
        self.keep_story()  # at once: a viewer elsewhere may join before the first event

    def publish(self, data: bytes, seconds: float) -> None:
        self._queue.put_nowait(("frame", HEADER.pack(seconds) + data))

    def keep_story(self) -> None:
        self._queue.put_nowait(("story", json.dumps(self._snapshot()).encode()))

    async def _send(self) -> None:
        while (item := await self._queue.get()) is not None:
            kind, payload = item
            try:
                if kind == "frame":
                    await self._redis.publish(self._channel, payload)
                else:
                    await self._redis.set(self._story, payload, ex=STORY_SECONDS)
            except RedisError as e:  # Redis away: remote viewers miss this, local ones do not
                logger.warning(f"could not relay to Redis: {e}")

    async def _beat(self) -> None:
        while True:
            try:
                await self._redis.set(self._alive, b"1", px=int(ALIVE_SECONDS * 1000))
            except RedisError as e:
                logger.warning(f"could not renew {self._alive}: {e}")
            await asyncio.sleep(ALIVE_SECONDS / 4)

    async def close(self) -> None:
        """The duel is over: send what is queued and the end, then let the keys go."""
        self._queue.put_nowait(("frame", HEADER.pack(OVER)))
        self._queue.put_nowait(None)
        await asyncio.gather(self._sender, return_exceptions=True)
        self._beating.cancel()
        await asyncio.gather(self._beating, return_exceptions=True)
        with contextlib.suppress(RedisError):  # if Redis is away, the keys lapse on their own
            await self._redis.delete(self._story, self._alive)


class RemoteDuel:
    """A duel running on another replica, as `/ws` sees it: each viewer admitted here is
    relayed from Redis. Heckles and votes are taken where the duel runs."""

    def __init__(self, redis: aioredis.Redis, duel_id: str, backlog_seconds: float, on_gone: Callable[[], Awaitable[None]]):
        self.id = duel_id
        self._redis = redis
        self._backlog = backlog_seconds
        self._on_gone = on_gone
        self._relays: dict[str, asyncio.Task] = {}

    def viewer(self, websocket: WebSocket, host: bool) -> Viewer:
        return Viewer(websocket, f"viewer-{secrets.token_hex(3)}", False, self._backlog)

    async def admit(self, viewer: Viewer) -> None:
        if viewer.name not in self._relays:
            self._relays[viewer.name] = asyncio.get_running_loop().create_task(self._relay(viewer))

    async def act(self, viewer: Viewer, action: object, data: object) -> None:
        viewer.offer(await _event(
            DuelEvent.REFUSED, action=action if isinstance(action, str) else None, code="elsewhere",
            message="this duel runs on another replica: heckles and votes are taken there; open the watch link it hands out",
        ))

    async def leave(self, viewer: Viewer) -> None:
        if relay := self._relays.pop(viewer.name, None):
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
        await viewer.stop()

    async def _relay(self, viewer: Viewer) -> None:
        """The story so far, then the stream, until the duel ends or its replica is gone."""
        channel, story_key, alive_key = _keys(self.id)
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(channel)  # before reading the story: nothing falls between
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
