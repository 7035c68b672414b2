"""`local-duel bench arrivals`: duels that arrive one after another, on a stage of a fixed
size against one that follows the machine.

The same arrivals reach two servers in turn: one that admits `LOCAL_DUEL_MAX_DUELS`
whatever comes (what the stage was before it learned), and one whose stage shrinks while
lines come late at two drafts (local_duel.pipeline.pace). Each server is warmed by one duel
alone first. An arrival turned away (429) is counted, not retried. Per server it reports
how many duels were admitted and ended, and what their listeners heard.
"""

import asyncio
import json
import time
from pathlib import Path

from local_duel.bench.duels import Server, _duel, _summary
from local_duel.bench.listener import Heard, Refused, listen
from local_duel.core.settings import Settings
from local_duel.show.cast import DEFAULT_TOPIC

ARRIVALS = 8
EVERY_S = 3.0  # between arrivals: about one line apart
TURNS = 2


async def _arrive(url: str, k: int) -> Heard | None:
    await asyncio.sleep(k * EVERY_S)
    try:
        return await listen(url, _duel(TURNS, f"topic {k}"))
    except Refused as e:
        if e.status != 429:
            raise
        return None


async def _stage(learn: bool, most: int) -> dict:
    async with Server(True, LOCAL_DUEL_MAX_DUELS=str(most), LOCAL_DUEL_LEARN_STAGE=str(learn).lower()) as server:
        await server.wait_healthy()
        await listen(server.url, _duel(TURNS, DEFAULT_TOPIC))
        await server.wait_idle()
        heard = await asyncio.gather(*(_arrive(server.url, k) for k in range(ARRIVALS)))
        admitted = [h for h in heard if h is not None]
        return {
            "stage": "learned" if learn else "fixed",
            "arrivals": ARRIVALS,
            "admitted": len(admitted),
            "refused": ARRIVALS - len(admitted),
            **_summary(admitted),
            "stage_after": (await server.wait_healthy())["stage"],
        }


async def run(out: Path) -> dict:
    began, most = time.monotonic(), Settings().max_duels
    results = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "arrivals": ARRIVALS,
        "every_s": EVERY_S,
        "turns_per_phase": TURNS,
        "max_duels": most,
        "rows": [await _stage(False, most), await _stage(True, most)],
    }
    results["bench_seconds"] = round(time.monotonic() - began, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arrivals.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def table(results: dict) -> str:
    lines = [
        f"{results['arrivals']} duels arriving {results['every_s']:g} s apart, at most {results['max_duels']} at once",
        "",
        "| stage | admitted | ended | dead air median / p95 / max | underruns | words per line | drafts per line | stage after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['stage']} | {r['admitted']} of {r['arrivals']} | {r['duels_ended']} | {r['dead_air_median_s']} / {r['dead_air_p95_s']} / {r['dead_air_max_s']} s "
        f"| {r['underruns']} | {r['words_per_line']} | {r['drafts_per_line']} | {r['stage_after']} |"
        for r in results["rows"]
    ]
    return "\n".join(lines)
