"""`local-duel bench scale`: the same duels on one replica and on two, the load the
scale-out issue names (8 duels over the two LLM servers, 100 viewers split across the two
replicas), and how fast a dead replica's viewers elsewhere are told, all real processes
on loopback: a throwaway Redis, two `local-duel llm-server`s as the pool, and `local-duel
serve` replicas. It prints the figures, with CPU and memory per process, and writes
`scale.json`.

Each replica keeps its history in its own SQLite here (the tests run the shared
PostgreSQL); what is measured is the stream, the pool and the relay, not the history.
"""

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import websockets
from pipecat.frames.frames import OutputTransportMessageFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from local_duel.bench.crowd import Crowd, gather_crowd
from local_duel.bench.listener import CLIENT_READY, Heard, hear, listen
from local_duel.bench.redis_server import throwaway_redis
from local_duel.bench.serve import ServerProcess, llm_server_process
from local_duel.bench.stats import p95

CAST = {
    "first": {"name": "Max", "persona": "a smug engineer", "voice": "en_US-joe-medium"},
    "second": {"name": "Ava", "persona": "a sharp comedian", "voice": "en_US-joe-medium@1.35"},
}
DUEL = {"cast": CAST, "topic": "tabs versus spaces", "turns": 2}
SLOTS = 4  # per LLM server
VIEWERS = 5  # watching from the other replica when the running one is killed
LOAD = {"duels": 8, "viewers": 100}  # the scale-out issue's load: all the pool's slots, a classroom watching


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


async def _sampling(usage: Usage) -> None:
    while True:
        usage.sample()
        await asyncio.sleep(0.5)


def _heard(heard: list[Heard]) -> dict:
    """How the duels sounded to their hosts."""
    dead_air = [gap for h in heard for gap in h.dead_air()]
    return {
        "ended": sum(bool(h.named("duel-ended")) for h in heard),
        "lines": sum(len(h.line_spans()) for h in heard),
        "dead_air_median_s": round(statistics.median(dead_air), 3) if dead_air else 0.0,
        "dead_air_p95_s": round(p95(dead_air), 3),
        "dead_air_max_s": round(max(dead_air, default=0.0), 3),
    }


async def _duels(bases: list[str], count: int, usage: Usage) -> dict:
    """`count` duels at once, started round-robin at the replicas."""
    sampler = asyncio.get_running_loop().create_task(_sampling(usage))
    started = time.monotonic()
    heard: list[Heard] = await asyncio.gather(*(listen(bases[i % len(bases)], DUEL) for i in range(count)))
    sampler.cancel()
    return {
        "duels": count, "replicas": len(bases), **_heard(heard),
        "seconds": round(time.monotonic() - started, 1), "processes": usage.result(),
    }


async def _load(bases: list[str], usage: Usage) -> dict:
    """`LOAD`'s duels at once, started round-robin at the replicas, its viewers shared out
    among them, every second one watching through the replica that doesn't run its duel
    (relayed over Redis). Every viewer is there before its duel's first line."""
    duels, viewers = LOAD["duels"], LOAD["viewers"]
    each = [viewers // duels + (i < viewers % duels) for i in range(duels)]
    sampler = asyncio.get_running_loop().create_task(_sampling(usage))
    started = time.monotonic()
    crowds: list[Crowd | BaseException] = await asyncio.gather(*(
        gather_crowd(bases[i % len(bases)], DUEL, each[i], elsewhere=bases[(i + 1) % len(bases)]) for i in range(duels)
    ), return_exceptions=True)
    sampler.cancel()
    heard = [c for c in crowds if isinstance(c, Crowd)]
    watching = [(crowd, k, viewer) for crowd in heard for k, viewer in enumerate(crowd.viewers)]
    viewer_dead_air = [gap for _, _, viewer in watching for gap in viewer.dead_air()]
    return {
        "duels": duels, "replicas": len(bases), "viewers": viewers,
        "refused": [str(c) for c in crowds if isinstance(c, BaseException)],
        **_heard([crowd.host for crowd in heard]),
        "viewers_heard_whole_duel": sum(bool(viewer.named("duel-ended")) for _, _, viewer in watching),
        "relayed_viewers": sum(k % 2 for _, k, _ in watching),
        "viewers_with_the_hosts_audio_bytes": sum(viewer.sound == crowd.host.sound for crowd, _, viewer in watching),
        "viewer_dead_air_p95_s": round(p95(viewer_dead_air), 3),
        "seconds": round(time.monotonic() - started, 1),
        "processes": usage.result(),
    }


def _listening(port: int) -> int:
    """The process listening on loopback `port` (the throwaway Redis)."""
    return next(c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port)


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
            "LOCAL_DUEL_DRAFTS": "1",
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
                    everyone = {**llms, "redis": _listening(urlsplit(redis_url).port),
                                **{f"replica-{i + 1}": r.process.pid for i, r in enumerate(replicas)}, "bench client": os.getpid()}
                    results["load"] = await _load([r.url for r in replicas], Usage(everyone))
                    await asyncio.sleep(2)
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
    load = results["load"]
    rows.append(f"\nload: {load['duels']} duels over 2 LLM servers, {load['viewers']} viewers over 2 replicas "
                f"({load['relayed_viewers']} relayed): {load['ended']} ended, dead air median/p95/max "
                f"{load['dead_air_median_s']} / {load['dead_air_p95_s']} / {load['dead_air_max_s']} s (hosts), "
                f"p95 {load['viewer_dead_air_p95_s']} s (viewers); {load['viewers_heard_whole_duel']} viewers heard "
                f"the whole duel, {load['viewers_with_the_hosts_audio_bytes']} with the host's very bytes; "
                f"refused {len(load['refused'])}")
    rows += [f"  {name:<13} CPU {p['cpu_percent']:>4}% of a core, peak RSS {p['peak_rss_mb']} MB"
             for name, p in load["processes"].items()]
    k = results["replica_killed"]
    rows.append(f"\nreplica killed: {k['told']}/{k['viewers']} viewers elsewhere told (replica-gone) "
                f"in {k['seconds_median']} s median, {k['seconds_max']} s max")
    return "\n".join(rows)
