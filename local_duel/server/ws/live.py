"""A duel on stage: one pipeline, its audience, and what the audience and the host may do.

The duel runs in a task of its own, not in any socket's: it goes on while anyone
watches, the host leaving included, and is called off `audience_grace_seconds` after
the last viewer has left. The host's socket starts it, and only the host may skip a
phase, pause, resume or end it; every viewer may vote and heckle.
"""

import asyncio
from typing import TYPE_CHECKING

from fastapi import WebSocket
from loguru import logger

from local_duel.history.recorder import Recording, new_duel
from local_duel.pipeline.duel import Duel
from local_duel.pipeline.events import DuelEvent
from local_duel.pipeline.heckle import Heckle, HeckleBox, HeckleRate, HeckleRefused, check
from local_duel.pipeline.pace import drafts_each
from local_duel.server.guard import voter
from local_duel.server.tickets import Ticket
from local_duel.server.votes import VoteRefused, Votes
from local_duel.server.ws.broadcast import Broadcast
from local_duel.server.ws.relay import Publisher, Relayed
from local_duel.server.ws.viewers import Audience, Viewer
from local_duel.show.flow import DuelFlow

if TYPE_CHECKING:
    from local_duel.server.deps import Services

HOST_ONLY = {"skip": "skip to the next phase", "pause": "pause the duel", "resume": "resume the duel", "end": "end the duel"}
ACTIONS = ("heckle", "vote", *HOST_ONLY)


class LiveDuel:
    def __init__(self, ticket: Ticket, flow: DuelFlow, services: "Services"):
        settings = services.settings
        duel_id, request, views = ticket.duel_id, ticket.request, ticket.views
        self.id = duel_id
        self.watch = ticket.watch
        self.llm_url = ticket.llm_url or services.engine.url
        self.settings = settings
        self.votes = Votes()
        self.heckles = HeckleBox()
        self._heckle_rate = HeckleRate(settings.heckle_seconds)
        self.audience = Audience(settings.viewer_backlog_seconds, self._cut_off)
        self.broadcast = Broadcast(self.audience, settings.sample_rate, self.verdict)
        if services.relay:  # replicas: viewers elsewhere get the same stream
            self.audience.mirror = Publisher(services.relay, duel_id, lambda: {**self.audience.story, "votes": self.votes.tally()}, self.act)
        record = new_duel(duel_id, flow, request.cast, request.topic, request.turns, settings, views)
        self.recording = Recording(services.store, record, request.cast, services.owner)
        self.duel = Duel(
            flow,
            request.cast,
            request.topic,
            llm_url=self.llm_url,
            voices=services.voices,
            settings=settings,
            output=[self.recording.recorder, self.broadcast],
            turns_per_phase=request.turns,
            views=views,
            rating=request.rating,
            drafts=lambda: drafts_each(settings, len(services.duels)),
            pace=services.pace,
            heckles=self.heckles.take,
        )
        self._ended_by: str | None = None
        self._grace: asyncio.Task | None = None
        self._viewers = 0  # viewers ever joined, for their names
        self._host: Viewer | None = None  # the starting socket, in the room once it says ready
        self._pending: set[asyncio.Task] = set()

    # --- the duel's life ---

    async def run(self) -> None:
        """Run the duel to its end, then tell and close every viewer and keep the record."""
        deadline = asyncio.get_running_loop().create_task(self._await_host(self.settings.client_ready_seconds))
        await self.recording.begin(rating=self.duel.rating)
        try:
            await self.duel.run()
        finally:
            deadline.cancel()
            if self._grace:
                self._grace.cancel()
            if self._ended_by:
                await self.audience.announce(DuelEvent.DUEL_ENDED, lines=len(self.duel.script.lines), by=self._ended_by, **self.verdict())
            for viewer in list(self.audience.viewers.values()):
                viewer.finish()
            if self.audience.mirror:
                await self.audience.mirror.close()
            await self.recording.end(self.duel.error, self.settings, self.votes.tally())
            logger.info(f"duel {self.id} ended after {len(self.duel.script.lines)} lines, votes {self.votes.tally()}")

    async def _await_host(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.duel.begun:
            message = f"no RTVI client-ready within {seconds:g} s (LOCAL_DUEL_CLIENT_READY_SECONDS); the duel is off"
            logger.info(f"duel {self.id}: {message}")
            await self.audience.announce(DuelEvent.ERROR, message=message, fatal=True)
            if self._host is not None and self._host.name not in self.audience.viewers:  # not in the room: told here
                await self.audience.tell(self._host, DuelEvent.ERROR, message=message, fatal=True)
                self._host.finish()
            await self.duel.worker.cancel()

    async def fail(self, code: str, message: str) -> None:
        """End the duel for a reason outside it (its LLM server died): every viewer is told."""
        if self.duel.error:  # it has failed already, and said why
            return
        logger.error(f"duel {self.id}: {message}")
        self.duel.error = message
        await self.audience.announce(DuelEvent.ERROR, code=code, message=message, fatal=True)
        self.broadcast.resume()  # a paused output would hold the cancel up
        await self.duel.worker.cancel()

    def verdict(self) -> dict:
        """The votes, and the winner's side and name (None for a tie)."""
        side = self.votes.winner()
        return {"votes": self.votes.tally(), "winner": side, "winner_name": getattr(self.duel.cast, side).name if side else None}

    # --- viewers coming and going ---

    def viewer(self, websocket: WebSocket, host: bool) -> Viewer:
        self._viewers += 1
        name = "host" if host else f"viewer-{self._viewers}"
        viewer = Viewer(websocket, name, host, self.settings.viewer_backlog_seconds, name if host else voter(websocket.scope))
        if host:
            self._host = viewer
        return viewer

    async def admit(self, viewer: Viewer) -> None:
        """Once its client is ready: the state so far, then the stream; the host's starts the duel."""
        if viewer.name in self.audience.viewers:
            return
        state = await self.audience.encode(
            DuelEvent.DUEL_STATE, **self.audience.story, votes=self.votes.tally(),
            viewers=len(self.audience.viewers) + 1, you=viewer.name, host=viewer.host,
        )
        self.audience.join(viewer, state)
        if self._grace:
            self._grace.cancel()
            self._grace = None
        await self.audience.announce(DuelEvent.AUDIENCE, viewers=len(self.audience.viewers))
        if viewer.host:
            self.duel.begin()

    async def leave(self, viewer: Viewer) -> None:
        if self.audience.viewers.pop(viewer.name, None) is not None or viewer.host:
            await self._after_leaving()
        await viewer.stop()

    def _cut_off(self, viewer: Viewer) -> None:
        task = asyncio.get_running_loop().create_task(self._after_leaving())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_leaving(self) -> None:
        """A room that empties gets a grace period to come back; a host who watched alone,
        or left before the duel began, leaves nobody to play for: it ends now."""
        await self.audience.announce(DuelEvent.AUDIENCE, viewers=len(self.audience.viewers))
        if self.audience.viewers or self._grace is not None:
            return
        if self.duel.begun and self._viewers > 1:
            self._grace = asyncio.get_running_loop().create_task(self._call_off())
        else:
            await self.duel.worker.cancel()

    async def _call_off(self) -> None:
        await asyncio.sleep(self.settings.audience_grace_seconds)
        if not self.audience.viewers:
            logger.info(f"duel {self.id}: nobody has watched for {self.settings.audience_grace_seconds:g} s; it is off")
            await self.duel.worker.cancel()

    # --- what viewers do ---

    async def act(self, viewer: Viewer | Relayed, action: object, data: object) -> None:
        """A viewer's client message `{t: action, d: data}`, here or relayed from another
        replica; a refusal names what was wrong."""
        async def refuse(code: str, message: str):
            await self.audience.tell(viewer, DuelEvent.REFUSED, action=action if isinstance(action, str) else None, code=code, message=message)

        if viewer.name not in self.audience.viewers and not isinstance(viewer, Relayed):  # its own replica checks
            return await refuse("not-ready", "send RTVI client-ready first")
        if action not in ACTIONS:
            return await refuse("unknown-action", f"no action {action!r}; send one of {', '.join(ACTIONS)}")
        if action in HOST_ONLY and not viewer.host:
            return await refuse("forbidden", f"only the host can {HOST_ONLY[action]}; this is a watch link")
        data = data if isinstance(data, dict) else {}
        if action == "heckle":
            try:
                text = check(data.get("text"), self.duel.rating)
                self._heckle_rate.admit(viewer.name)
                self.heckles.offer(Heckle(text, viewer.name))
            except HeckleRefused as e:
                return await refuse(e.code, str(e))
            self.audience.story["heckles"].append(text)
            await self.audience.announce(DuelEvent.HECKLE, text=text)
        elif action == "vote":
            if not (viewer.heard if isinstance(viewer, Viewer) else self.audience.story["transcript"]):
                return await refuse("not-heard", "a vote counts once a line has begun while you are here; listen first")
            try:
                self.votes.cast(viewer.voter, data.get("side"))
            except VoteRefused as e:
                return await refuse("bad-vote", str(e))
            await self.audience.announce(DuelEvent.VOTES, votes=self.votes.tally())
        elif action == "skip":
            self.duel.turns.skip()
            await self.audience.announce(DuelEvent.CONTROL, action="skip")
        elif action in ("pause", "resume"):
            self.broadcast.pause() if action == "pause" else self.broadcast.resume()
            self.audience.story["paused"] = self.broadcast.paused
            await self.audience.announce(DuelEvent.CONTROL, action=action)
        elif action == "end":
            self._ended_by = "host"
            self.broadcast.resume()  # a paused output would hold the cancel up
            await self.duel.worker.cancel()
