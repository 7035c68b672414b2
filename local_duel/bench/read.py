"""`local-duel bench read`: lines judged by a reader, blind, not by a metric.

`write` takes the `quality.json` of two or more systems (runs of `bench quality` on the
same held-out scenes and seeds: another model, adapter or draft count) and writes a
folder for a reader who must not learn which system wrote what:

- `lines.md`: every line of every system, shuffled, each with its scene, its phase's
  direction and the line before it, for marks on four counts (the RUBRIC);
- `pairs.md`: for the first two systems, the line at the same place of the same scene
  and seed, sides shuffled, for a verdict: which is the better line, or neither;
- `marks.csv` and `verdicts.csv`: the forms, one row per item, for the reader to fill (a
  row left empty is an item not read: several readers may take a share each);
- `key.json`: which system wrote each item, sealed: a reader is never shown it.

`tally` reads the filled forms against the key and reports each count as a rate with
its 95% Wilson interval, per system, and how often each system won a pair.
"""

import csv
import json
import math
import random
from collections import defaultdict
from pathlib import Path

RUBRIC = """\
Mark every line on its own, as a listener of the show would hear it:

- sense: 1 if it makes sense as a reply to the line before it (or, for an opening line,
  as an opening of this scene), else 0.
- character: 1 if it sounds like its speaker (their persona), not anybody, else 0.
- phase: 1 if it does what its phase's direction asks (a word limit included), else 0.
- funny: 0 (not funny), 1 (a smile), 2 (a laugh).
"""
PAIR_RUBRIC = """\
For every pair: which line is the better line of this show in its scene, as a reply
that makes sense, sounds like its speaker, does what the phase asks and is funny?
Write A, B, or = where neither is better.
"""
MARKS = ("sense", "character", "phase", "funny")
Z = 1.96  # a 95% interval


def systems_of(results: list[dict]) -> list[str]:
    """A name for each quality.json: the settings that tell the runs apart (any of them:
    the model, the adapter, the drafts, the sampling…)."""
    settings = [r["settings"] for r in results]
    keys = dict.fromkeys(k for s in settings for k in s)
    differ = [k for k in keys if len({json.dumps(s.get(k)) for s in settings}) > 1] or ["llm_model"]
    return [" ".join(f"{k}={s.get(k)}" for k in differ) for s in settings]


def _context(duel: dict, index: int) -> dict:
    line = duel["lines"][index]
    before = duel["lines"][index - 1] if index else None
    return {
        "scene": f"{duel['flow']}: {duel['topic']}",
        "cast": duel.get("personas") or {name: "" for name in duel["cast"]},
        "direction": duel.get("directions", {}).get(line["phase"], line["phase"]),
        "before": f"{before['speaker']}: {before['text']}" if before else "(the opening line)",
        "line": f"{line['speaker']}: {line['text']}",
    }


def _item(number: str, context: dict) -> list[str]:
    cast = "; ".join(f"{name}, {persona}" if persona else name for name, persona in context["cast"].items())
    return [
        f"### {number}", f"- scene: {context['scene']}", f"- cast: {cast}",
        f"- phase: {context['direction']}", f"- before: {context['before']}",
    ]


def write(results: list[dict], out: Path, seed: int = 0) -> dict:
    """The reader's folder for `results` (one quality.json per system); returns the key."""
    rng = random.Random(seed)
    names = systems_of(results)
    items = [
        (name, d, i, _context(duel, i))
        for name, result in zip(names, results)
        for d, duel in enumerate(result["duels"])
        for i in range(len(duel["lines"]))
    ]
    rng.shuffle(items)
    key = {"systems": names, "lines": {}, "pairs": {}}
    sheet = ["# Lines to mark", "", RUBRIC]
    for n, (name, d, i, context) in enumerate(items, 1):
        number = f"L{n:03d}"
        key["lines"][number] = {"system": name, "duel": d, "line": i}
        sheet += [*_item(number, context), f"- **line: {context['line']}**", ""]
    pairs = ["# Pairs to judge", "", PAIR_RUBRIC]
    if len(results) >= 2:
        first, second = results[0]["duels"], results[1]["duels"]
        places = [(d, i) for d, (a, b) in enumerate(zip(first, second))
                  if (a["flow"], a["topic"], a["seed"]) == (b["flow"], b["topic"], b["seed"])
                  for i in range(min(len(a["lines"]), len(b["lines"])))]
        rng.shuffle(places)
        for n, (d, i) in enumerate(places, 1):
            number = f"P{n:03d}"
            sides = [(names[0], first[d]), (names[1], second[d])]
            rng.shuffle(sides)
            key["pairs"][number] = {"A": sides[0][0], "B": sides[1][0], "duel": d, "line": i}
            pairs += _item(number, _context(first[d], i))[:3]
            for label, (_, duel) in zip("AB", sides):
                context = _context(duel, i)
                pairs += [f"- {label}, phase: {context['direction']}", f"  - before: {context['before']}",
                          f"  - **{label}: {context['line']}**"]
            pairs.append("")
    out.mkdir(parents=True, exist_ok=True)
    (out / "lines.md").write_text("\n".join(sheet) + "\n", encoding="utf-8")
    (out / "pairs.md").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    _form(out / "marks.csv", ["id", *MARKS, "reader"], key["lines"])
    _form(out / "verdicts.csv", ["id", "better", "reader"], key["pairs"])
    (out / "key.json").write_text(json.dumps(key, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return key


def _form(path: Path, columns: list[str], ids) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([number] + [""] * (len(columns) - 1) for number in sorted(ids))


def wilson(hits: float, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a rate of `hits` in `n` (0 to 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return (round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3))


class FormError(ValueError):
    """A filled form that can't be read: the message names the file, row and problem."""


def _rows(path: Path, ids, columns: list[str]) -> list[dict]:
    """The form's filled rows; a row left wholly empty is an item not read (yet)."""
    filled = []
    for n, row in enumerate(csv.DictReader(path.open(encoding="utf-8")), 2):
        if row.get("id") not in ids:
            raise FormError(f"{path.name} row {n}: no item {row.get('id')!r} in key.json")
        empty = [c for c in columns if not (row.get(c) or "").strip()]
        if len(empty) == len(columns):
            continue
        if empty:
            raise FormError(f"{path.name} row {n} ({row['id']}): {', '.join(empty)} left empty")
        filled.append(row)
    return filled


def tally(folder: Path) -> dict:
    """Each system's marks as rates (funny as a mean) with 95% intervals, and the pairs'
    wins, from the filled forms in `folder`; written to `folder/reading.json`."""
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    marks = defaultdict(lambda: defaultdict(list))
    readers = defaultdict(set)
    for row in _rows(folder / "marks.csv", key["lines"], [*MARKS, "reader"]):
        system = key["lines"][row["id"]]["system"]
        for mark in MARKS:
            value = row[mark].strip()
            allowed = ("0", "1", "2") if mark == "funny" else ("0", "1")
            if value not in allowed:
                raise FormError(f"marks.csv {row['id']}: {mark} must be one of {', '.join(allowed)}, not {value!r}")
            marks[system][mark].append(int(value))
        readers[system].add(row["reader"].strip())
    report = {"systems": {}, "pairs": None}
    for system in key["systems"]:
        got = marks.get(system, {})
        n = len(got.get("sense", []))
        rates = {mark: {"rate": round(sum(got[mark]) / n, 3), "ci95": wilson(sum(got[mark]), n)} for mark in MARKS[:3]} if n else {}
        if n:
            funny = got["funny"]
            mean = sum(funny) / n
            sd = math.sqrt(sum((f - mean) ** 2 for f in funny) / max(n - 1, 1))
            rates["funny"] = {"mean": round(mean, 3), "ci95": (round(mean - Z * sd / math.sqrt(n), 3), round(mean + Z * sd / math.sqrt(n), 3))}
        report["systems"][system] = {"lines": n, **rates, "readers": sorted(readers[system])}
    pairs = _rows(folder / "verdicts.csv", key["pairs"], ["better", "reader"])
    if pairs:
        wins = defaultdict(int)
        for row in pairs:
            better = row["better"].strip().upper()
            if better not in ("A", "B", "="):
                raise FormError(f"verdicts.csv {row['id']}: better must be A, B or =, not {better!r}")
            wins[key["pairs"][row["id"]][better] if better != "=" else "="] += 1
        n = len(pairs)
        report["pairs"] = {
            "pairs": n, "readers": sorted({row["reader"].strip() for row in pairs}),
            **{system: {"won": wins[system], "rate": round(wins[system] / n, 3), "ci95": wilson(wins[system], n)} for system in key["systems"][:2]},
            "neither": wins["="],
        }
    (folder / "reading.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def table(report: dict) -> str:
    """The reading as a Markdown table, a column per system."""
    systems = list(report["systems"])
    rows = ["| mark | " + " | ".join(systems) + " |", "| --- |" + " --- |" * len(systems)]
    def cell(entry, field):
        return f"{entry[field]} ({entry['ci95'][0]}–{entry['ci95'][1]})" if entry else "—"
    rows.append("| lines | " + " | ".join(str(report["systems"][s]["lines"]) for s in systems) + " |")
    for mark in MARKS[:3]:
        rows.append(f"| {mark} | " + " | ".join(cell(report["systems"][s].get(mark), "rate") for s in systems) + " |")
    rows.append("| funny (0–2) | " + " | ".join(cell(report["systems"][s].get("funny"), "mean") for s in systems) + " |")
    if report["pairs"]:
        p = report["pairs"]
        rows.append(f"| pairs won (of {p['pairs']}; neither {p['neither']}) | " + " | ".join(cell(p.get(s), "rate") for s in systems[:2]) + " |")
    return "\n".join(rows)
