"""The blind reading on hand-made results: the sheet hides the systems, the key finds
them again, and the filled forms come back as rates with their intervals."""

import csv
import json

import pytest

from local_duel.bench import read


def results(adapter, texts):
    lines = [{"speaker": "Søren" if i % 2 == 0 else "Noor", "phase": "rapid", "text": t} for i, t in enumerate(texts)]
    duel = {"flow": "radio-call-in", "topic": "a fear of thunderstorms ⛈️", "seed": 11, "cast": ["Søren", "Noor"],
            "personas": {"Søren": "a baritone host", "Noor": "a lighthouse keeper"},
            "directions": {"rapid": "Rapid-fire round: five words or fewer."}, "lines": lines}
    return {"settings": {"llm_model": "local-duel", "adapter": adapter, "drafts": 2}, "duels": [duel]}


TUNED = results(True, ["Did the storm stop?", "No, but the seagull left.", "Progress! Thunder's next."])
BASE = results(False, ["Oh Professor Zoe Sarnatzki.", "The toaster is my house.", "Pizza pizza pizza."])


def fill(path, rows):
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_the_sheet_is_blind_and_the_tally_unseals_it(tmp_path):
    key = read.write([TUNED, BASE], tmp_path, seed=3)
    assert key["systems"] == ["adapter=True", "adapter=False"]
    sheet, pairs = (tmp_path / "lines.md").read_text(), (tmp_path / "pairs.md").read_text()
    for hidden in ["adapter", "local-duel", "True", "False"]:
        assert hidden not in sheet and hidden not in pairs
    assert sheet.count("**line:") == 6 and pairs.count("### P") == 3
    assert "Rapid-fire round: five words or fewer." in sheet and "(the opening line)" in sheet
    assert "before: Søren: Did the storm stop?" in sheet  # the line it answers, from its own duel
    # A reader who likes the tuned lines, sees sense in one base line and calls one pair even
    texts = {t["text"] for t in TUNED["duels"][0]["lines"]}
    marks = []
    for number, item in key["lines"].items():
        tuned = item["system"] == "adapter=True"
        marks.append([number, int(tuned or item["line"] == 0), int(tuned), int(tuned), 2 if tuned else 0, "helper-1"])
    fill(tmp_path / "marks.csv", marks)
    verdicts = [[n, ("A" if p["A"] == "adapter=True" else "B") if p["line"] else "=", "helper-2"] for n, p in key["pairs"].items()]
    fill(tmp_path / "verdicts.csv", verdicts)
    report = read.tally(tmp_path)
    tuned, base = report["systems"]["adapter=True"], report["systems"]["adapter=False"]
    assert tuned["sense"]["rate"] == 1.0 and base["sense"]["rate"] == 0.333 and base["character"]["rate"] == 0.0
    assert tuned["funny"]["mean"] == 2.0 and tuned["readers"] == ["helper-1"]
    assert report["pairs"]["adapter=True"]["won"] == 2 and report["pairs"]["neither"] == 1
    assert report["pairs"]["readers"] == ["helper-2"]
    low, high = base["sense"]["ci95"]
    assert 0 < low < 0.333 < high < 1
    assert json.loads((tmp_path / "reading.json").read_text()) == json.loads(json.dumps(report))
    assert texts and "| sense | 1.0 (" in read.table(report)


def test_an_unread_row_is_skipped_and_a_gap_or_a_stray_mark_names_the_row(tmp_path):
    key = read.write([TUNED, BASE], tmp_path)
    first, *rest = sorted(key["lines"])
    fill(tmp_path / "marks.csv", [[first, "", "", "", "", ""]] + [[n, 1, 1, 1, 1, "me"] for n in rest])
    assert read.tally(tmp_path)["systems"]["adapter=True"]["lines"] + read.tally(tmp_path)["systems"]["adapter=False"]["lines"] == 5
    fill(tmp_path / "marks.csv", [[first, "1", "", "1", "0", "me"]] + [[n, 1, 1, 1, 1, "me"] for n in rest])
    with pytest.raises(read.FormError, match=f"{first}.*character left empty"):
        read.tally(tmp_path)
    fill(tmp_path / "marks.csv", [[first, "1", "1", "1", "3", "me"]] + [[n, 1, 1, 1, 1, "me"] for n in rest])
    with pytest.raises(read.FormError, match="funny must be one of 0, 1, 2, not '3'"):
        read.tally(tmp_path)


def test_wilson_interval():
    assert read.wilson(8, 10) == (0.49, 0.943)
    assert read.wilson(0, 0) == (0.0, 1.0)


def test_systems_are_told_apart_by_whichever_setting_differs():
    gentle = {**TUNED, "settings": {**TUNED["settings"], "repeat_penalty": 1.1, "nudge": 0.0}}
    strong = {**TUNED, "settings": {**TUNED["settings"], "repeat_penalty": 1.3, "nudge": 0.0}}
    assert read.systems_of([gentle, strong]) == ["repeat_penalty=1.1", "repeat_penalty=1.3"]
    newer = {**TUNED, "settings": {**TUNED["settings"], "repeat_penalty": 1.3}}  # a setting older runs didn't record
    assert read.systems_of([TUNED, BASE, newer]) == ["adapter=True repeat_penalty=None", "adapter=False repeat_penalty=None",
                                                     "adapter=True repeat_penalty=1.3"]


def test_a_run_records_its_adapter_so_two_adapters_are_two_systems(tmp_path):
    """Two runs alike in every setting but the adapter they served (a retrained one) are
    told apart by the adapter's SHA-256; none is recorded where no adapter was served."""
    from local_duel.bench.quality import _adapter_sha
    from local_duel.core import weights
    from local_duel.core.settings import Settings

    adapter = tmp_path / weights.ADAPTER_FILE
    adapter.parent.mkdir()
    adapter.write_bytes(b"GGUF one")
    first = _adapter_sha(Settings(models_dir=tmp_path))
    adapter.write_bytes(b"GGUF two")
    second = _adapter_sha(Settings(models_dir=tmp_path))
    assert first != second and len(first) == 12
    assert _adapter_sha(Settings(models_dir=tmp_path, adapter=False)) is None
    assert _adapter_sha(Settings(models_dir=tmp_path / "none")) is None

    old, new = ({**TUNED, "settings": {**TUNED["settings"], "adapter_sha256": sha}} for sha in (first, second))
    assert read.systems_of([old, new]) == [f"adapter_sha256={first}", f"adapter_sha256={second}"]
