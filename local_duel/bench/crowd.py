"""A crowd on the page's wire format: a host and many viewers of one duel, and
optionally a viewer that stops reading. The audience tests and `local-duel bench
audience` use it to hear one duel from many sockets at once.
"""

import asyncio
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import psutil
import websockets
from pipecat.frames.frames import OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from local_duel.bench.listener import CLIENT_READY, Heard, hear

STALLED_BUFFER = 4096  # bytes of receive buffer for the stalled viewer: the kernel can't hide the stall


@dataclass
class Crowd:
    host: Heard
    viewers: list[Heard]
    stalled: tuple[int | None, str] | None = None  # how the stalled socket was closed: code, reason
    server: dict = field(default_factory=dict)  # CPU and memory of the server process during the duel


async def ready(connection) -> None:
    await connection.send(await ProtobufFrameSerializer().serialize(OutputTransportMessageFrame(message=CLIENT_READY)))


async def start(base_url: str, duel: dict) -> dict:
    """`POST /api/start`: the host's and the viewers' socket URLs."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/start", json=duel) as response:
            if response.status != 200:
                raise RuntimeError(f"POST /api/start answered {response.status}: {await response.text()}")
            return await response.json()


async def stalled_viewer(url: str):
    """A viewer with a tiny receive buffer that says it is ready and then never reads."""
    parts = urlsplit(url)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_BUFFER)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (parts.hostname, parts.port))
    connection = await websockets.connect(url, sock=raw, max_size=None, max_queue=1)
    await ready(connection)
    return connection


async def drain(connection, seconds: float = 30) -> tuple[int | None, str]:
    """Read whatever is left, and how the socket was closed."""
    try:
        async with asyncio.timeout(seconds):
            async for _ in connection:
                pass
    except (websockets.ConnectionClosed, TimeoutError, OSError):
        pass
    received = connection.protocol.close_rcvd
    return (received.code, received.reason) if received else (None, "closed without a reason (reset)")


async def gather_crowd(
    base_url: str, duel: dict, viewers: int, stalled: bool = False, timeout: float = 600, elsewhere: str | None = None
) -> Crowd:
    """One duel heard by its host and `viewers` viewers, all there before the first line;
    with `elsewhere` (another replica's base URL), every second viewer watches through it."""
    ticket = await start(base_url, duel)
    started = time.monotonic()
    server = _server_process(base_url)
    host_socket = await websockets.connect(ticket["wsUrl"], max_size=None)
    relayed = ticket["watchWsUrl"].replace(urlsplit(base_url).netloc, urlsplit(elsewhere).netloc) if elsewhere else None
    sockets = [
        await websockets.connect(relayed if relayed and k % 2 else ticket["watchWsUrl"], max_size=None) for k in range(viewers)
    ]
    heard = [Heard(duel_id=ticket["duel_id"], epoch=time.time()) for _ in range(viewers + 1)]
    for connection in sockets:
        await ready(connection)
    stuck = await stalled_viewer(ticket["watchWsUrl"]) if stalled else None
    listening = [
        asyncio.create_task(hear(connection, h, started, timeout=timeout)) for connection, h in zip(sockets, heard[1:])
    ]
    await asyncio.sleep(0.5)  # every viewer's client-ready answered before the host starts the duel
    cpu_before, wall_before = server.cpu_times() if server else None, time.monotonic()
    peak = [0.0]
    sampler = asyncio.create_task(_sample_rss(server, peak)) if server else None
    await ready(host_socket)
    await hear(host_socket, heard[0], started, timeout=timeout)
    await asyncio.gather(*listening)
    wall = time.monotonic() - wall_before
    usage = {}
    if server:
        sampler.cancel()
        cpu_after = server.cpu_times()
        busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        usage = {"cpu_percent": round(100 * busy / wall, 1), "rss_peak_mb": round(peak[0], 1), "seconds": round(wall, 1)}
    for connection in [host_socket, *sockets]:
        await connection.close()
    closed = await drain(stuck) if stuck else None
    return Crowd(heard[0], heard[1:], closed, usage)


def _server_process(base_url: str) -> psutil.Process | None:
    """The `local-duel serve` process listening at `base_url`, to measure it."""
    port = base_url.rsplit(":", 1)[1].rstrip("/")
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and cmdline[-1] == port:
            return process
    return None


async def _sample_rss(process: psutil.Process, peak: list[float]) -> None:
    while True:
        try:
            peak[0] = max(peak[0], process.memory_info().rss / 1e6)
        except psutil.Error:
            return
        await asyncio.sleep(0.1)


async def bench(base_url: str, duel: dict, crowds: tuple[int, ...] = (1, 50)) -> dict:
    """`local-duel bench audience`: the server's CPU and memory, and dead air, with one
    viewer and with many (plus a stalled one), on the same duel."""
    rows = []
    for viewers in crowds:
        crowd = await gather_crowd(base_url, duel, viewers=viewers - 1, stalled=viewers > 1)
        dead = crowd.host.dead_air()
        same = all(v.sound == crowd.host.sound for v in crowd.viewers)
        rows.append({
            "viewers": viewers, **crowd.server,
            "dead_air_median_s": round(sorted(dead)[len(dead) // 2], 3) if dead else None,
            "dead_air_max_s": round(max(dead), 3) if dead else None,
            "identical_audio": same, "stalled_viewer_closed": crowd.stalled,
        })
    return {"duel": duel, "rows": rows}
