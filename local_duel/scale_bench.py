"""`local-duel bench scale`: the same duels on one replica and on two, and how fast a
dead replica's viewers elsewhere are told, all real processes on loopback: a throwaway
Redis, two `local-duel llm-server`s as the pool, and `local-duel serve` replicas. It
prints the figures and writes `scale.json`.

Each replica keeps its history in its own SQLite here (the tests run the shared
PostgreSQL); what is measured is the stream, the pool and the relay, not the history.
"""

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import websockets
from pipecat.frames.frames import OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from local_duel.bench import p95
from local_duel.listener import CLIENT_READY, Heard, hear, listen
from local_duel.redis_process import throwaway_redis
from local_duel.server_process import ServerProcess, llm_server_process

CAST = {
    "first": {"name": "Max", "persona": "a smug engineer", "voice": "en_US-joe-medium"},
    "second": {"name": "Ava", "persona": "a sharp comedian", "voice": "en_US-joe-medium@1.35"},
}
DUEL = {"cast": CAST, "topic": "tabs versus spaces", "turns": 2}
SLOTS = 4  # per LLM server
VIEWERS = 5  # watching from the other replica when the running one is killed


class Usage:
    """CPU (% of one core) and peak RSS of some processes, over a stretch of time."""

    def __init__(self, processes: dict[str, int]):
        self._procs = {name: psutil.Process(pid) for name, pid in processes.items()}
        self._cpu = {name: sum(p.cpu_times()[:2]) for name, p in self._procs.items()}
        self._peak = {name: 0 for name in self._procs}
        self._start = time.monotonic()

    def sample(self) -> None:
        for name, process in self._procs.items():
            self._peak[name] = max(self._peak[name], process.memory_info().rss)

    def result(self) -> dict:
        wall = time.monotonic() - self._start
        return {
            name: {"cpu_percent": round(100 * (sum(p.cpu_times()[:2]) - self._cpu[name]) / wall), "peak_rss_mb": round(self._peak[name] / 1e6)}
            for name, p in self._procs.items()
        }


async def _duels(bases: list[str], count: int, usage: Usage) -> dict:
    """`count` duels at once, started round-robin at the replicas."""
    async def sampling():
        while True:
            usage.sample()
            await asyncio.sleep(0.5)

    sampler = asyncio.get_running_loop().create_task(sampling())
    started = time.monotonic()
    heard: list[Heard] = await asyncio.gather(*(listen(bases[i % len(bases)], DUEL) for i in range(count)))
    sampler.cancel()
    dead_air = [gap for h in heard for gap in h.dead_air()]
    return {
        "duels": count,
        "replicas": len(bases),
        "ended": sum(bool(h.named("duel-ended")) for h in heard),
        "lines": sum(len(h.line_spans()) for h in heard),
        "dead_air_median_s": round(statistics.median(dead_air), 3) if dead_air else 0.0,
        "dead_air_p95_s": round(p95(dead_air), 3),
        "dead_air_max_s": round(max(dead_air, default=0.0), 3),
        "seconds": round(time.monotonic() - started, 1),
        "processes": usage.result(),
    }


async def _watch(url: str) -> tuple[websockets.ClientConnection, Heard]:
    socket = await websockets.connect(url, max_size=None)
    await socket.send(await ProtobufFrameSerializer().serialize(OutputTransportMessageFrame(message=CLIENT_READY)))
    return socket, Heard()


async def _kill(running: ServerProcess, elsewhere: str) -> dict:
    """A duel hosted at `running`, `VIEWERS` viewers at `elsewhere`; `running` killed after
    the first line: seconds until each viewer's `replica-gone` error."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{running.url}/api/start", json=DUEL) as response:
            ticket = await response.json()
    host_socket, host = await _watch(ticket["wsUrl"])
    await hear(host_socket, host, time.monotonic(), on_event=lambda h: bool(h.named("line-ended")))
    watch = ticket["watchWsUrl"].replace(running.url.removeprefix("http://"), elsewhere.removeprefix("http://"))
    viewers = [await _watch(watch) for _ in range(VIEWERS)]
    for socket, heard in viewers:
        await hear(socket, heard, time.monotonic(), on_event=lambda h: bool(h.named("duel-state")))
    running.process.kill()
    killed = time.monotonic()
    told = await asyncio.gather(*(hear(s, h, killed, timeout=15) for s, h in viewers))
    times = [next((at for at, e in h.events if e.get("code") == "replica-gone"), None) for h in told]
    for socket, _ in viewers:
        await socket.close()
    return {"viewers": VIEWERS, "told": sum(t is not None for t in times),
            "seconds_max": round(max(t for t in times if t is not None), 3) if any(times) else None,
            "seconds_median": round(statistics.median(t for t in times if t is not None), 3) if any(times) else None}


async def run(out: Path, duels: int) -> dict:
    # the machine's load before starting: these figures move with what else runs
    results: dict = {"duel": DUEL, "llm_servers": 2, "slots_per_server": SLOTS, "load_average_1m": psutil.getloadavg()[0]}
    llm_env = {"LOCAL_DUEL_ENGINE_SLOTS": str(SLOTS), "LOCAL_DUEL_ENGINE_THREADS": "1", "LOCAL_DUEL_ENGINE_CONTEXT": "1024"}
    with throwaway_redis() as redis_url, llm_server_process(llm_env) as one, llm_server_process(llm_env) as two, \
            tempfile.TemporaryDirectory(prefix="local-duel-scale-") as data:
        env = {
            "LOCAL_DUEL_REDIS_URL": redis_url,
            "LOCAL_DUEL_LLM_URLS": json.dumps([f"{one[0]}/v1", f"{two[0]}/v1"]),
            "LOCAL_DUEL_CANDIDATES": "1",
            "LOCAL_DUEL_STARTS_PER_MINUTE": "1000",
        }
        llms = {"llm-1": one[1].pid, "llm-2": two[1].pid}
        for count in (1, 2):
            with contextlib.ExitStack() as stack:
                replicas = []
                for i in range(count):
                    replica = ServerProcess({**env, "LOCAL_DUEL_DATA_DIR": f"{data}/r{count}-{i}"})
                    replicas.append(stack.enter_context(replica))
                usage = Usage({**llms, **{f"replica-{i + 1}": r.process.pid for i, r in enumerate(replicas)}})
                results[f"{count}_replica{'s' if count > 1 else ''}"] = await _duels([r.url for r in replicas], duels, usage)
                if count == 2:
                    await asyncio.sleep(2)  # the duels' places given back
                    results["replica_killed"] = await _kill(replicas[0], replicas[1].url)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def table(results: dict) -> str:
    rows = [f"load average before: {results['load_average_1m']:.2f}",
            "replicas  duels  ended  lines  dead air median/p95/max (s)  wall (s)  CPU % (llm-1, llm-2, replicas)"]
    for key in ("1_replica", "2_replicas"):
        r = results[key]
        cpu = ", ".join(str(p["cpu_percent"]) for p in r["processes"].values())
        rows.append(f"{r['replicas']:>8}  {r['duels']:>5}  {r['ended']:>5}  {r['lines']:>5}  "
                    f"{r['dead_air_median_s']:>8} / {r['dead_air_p95_s']} / {r['dead_air_max_s']:<8}  {r['seconds']:>8}  {cpu}")
    k = results["replica_killed"]
    rows.append(f"\nreplica killed: {k['told']}/{k['viewers']} viewers elsewhere told (replica-gone) "
                f"in {k['seconds_median']} s median, {k['seconds_max']} s max")
    return "\n".join(rows)
