"""The Modelfile template against the embedded engine's template, each rendered by its real
engine, and `local-duel ollama provision` as compose.yaml's ollama-init runs it, against
the imitation of Ollama (tests/unit/test_ollama.py).

The template tests use real renderers on both sides: the embedded engine's own (llama-server's
`/apply-template`) for models/screenplay.jinja, and Go's text/template, compiled into PyPI
`go-template`, for models/Modelfile's TEMPLATE.
"""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_duel.core.paths import ROOT
from local_duel.engine.modelfile import read_modelfile
from test_ollama import MODELFILE, imitation, models_dir  # noqa: F401  (fixtures: the imitation, a models folder)


async def test_imitation_provision_command_of_the_init_service(imitation, models_dir):  # noqa: F811  (the fixtures above)
    """`local-duel ollama provision`, as compose.yaml's ollama-init runs it."""
    env = {**os.environ, "LOCAL_DUEL_LLM_URL": imitation.url, "LOCAL_DUEL_MODELS_DIR": str(models_dir)}

    async def run() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("local-duel")), "ollama", "provision", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode()

    code, out = await run()
    assert code == 0, out
    assert "created" in out, out
    assert imitation.models["local-duel:latest"]["template"] == read_modelfile(MODELFILE).template
    code, out = await run()
    assert code == 0 and out.startswith("ok"), out
    assert len(imitation.calls("/api/create")) == 1


# --- the two templates, each by its real engine -------------------------------------------------

def _ollama_collate(messages: list[dict]) -> tuple[str, list[dict]]:
    """Ollama's template/template.go `collate`, which runs before every chat template:
    consecutive messages of the same role (tool messages aside) are merged, joined by a
    blank line, and the system messages are also gathered into .System."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    collated: list[dict] = []
    for m in messages:
        if collated and collated[-1]["role"] == m["role"] and m["role"] != "tool":
            collated[-1] = {**collated[-1], "content": collated[-1]["content"] + "\n\n" + m["content"]}
        else:
            collated.append(dict(m))
    return "\n\n".join(system), collated


def _go(messages: list[dict], tmp_path: Path) -> str:
    """The Modelfile TEMPLATE executed by Go's text/template, with the data Ollama passes
    a template that uses .Messages (template.go `Execute`), in a child process so Go's
    runtime stays out of pytest's."""
    system, collated = _ollama_collate(messages)
    values = {"System": system, "Response": "",
              "Messages": [{"Role": m["role"], "Content": m["content"]} for m in collated]}
    (tmp_path / "template.tmpl").write_text(read_modelfile(MODELFILE).template, encoding="utf-8")
    (tmp_path / "values.yml").write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.txt"
    subprocess.run(
        [sys.executable, "-c", "import go_template, sys; go_template.render_template(*sys.argv[1:])",
         "template.tmpl", "values.yml", str(out)],
        cwd=tmp_path, check=True, timeout=60,
    )
    return out.read_text(encoding="utf-8")


SCENE = {"role": "system", "content": 'A first date turns into a roast battle. Max: a smug engineer. Ava: a comic.'}

AGREEING = {
    "one screenplay message": [
        SCENE, {"role": "user", "content": "(They sit down.)\nMax: So, pineapple on pizza?\nAva: Bold opener.\nMax:"},
    ],
    "cue only": [SCENE, {"role": "user", "content": "Ava:"}],
    "no scene": [{"role": "user", "content": "Max: Hi.\nAva:"}],
    "chat from one side": [
        SCENE, {"role": "user", "content": "(Your turn, Ava.)"}, {"role": "assistant", "content": "Nice shirt."},
        {"role": "user", "content": "Max: Thanks, it's ironic."},
    ],
    "empty generation prompt": [
        SCENE, {"role": "user", "content": "Max: Hi.\nAva:"}, {"role": "assistant", "content": ""},
    ],
    "awkward text": [
        {"role": "system", "content": 'Quotes "like this", braces {{ .Content }}, and é ☕ 😀.'},
        {"role": "user", "content": "Ava: {{ end }} is not code here.\nMax:"},
    ],
}


@pytest.mark.parametrize("case", list(AGREEING))
def test_modelfile_template_renders_what_the_jinja_template_renders(case, tmp_path, render_template):
    messages = AGREEING[case]
    assert _go(messages, tmp_path) == render_template(messages)


def test_rendered_prompt_ends_on_the_cue(tmp_path):
    prompt = _go(AGREEING["one screenplay message"], tmp_path)
    assert prompt.startswith(SCENE["content"] + "\n\n(They sit down.)\n")
    assert prompt.endswith("\nMax:")


def test_ollama_joins_consecutive_user_lines_with_a_blank_line_unlike_llama_cpp(tmp_path, render_template):
    """A known difference, kept visible: sent as one `user` message per line, a screenplay
    reaches Ollama's template already merged with blank lines between the lines, while
    llama.cpp's Jinja joins them with single newlines. Sending the screenplay as one
    message (lines joined by "\\n") gives both engines the same prompt (see above)."""
    lines = ["(They sit down.)", "Max: So, pineapple?", "Ava:"]
    messages = [SCENE, *({"role": "user", "content": line} for line in lines)]
    assert render_template(messages) == SCENE["content"] + "\n\n" + "\n".join(lines)
    assert _go(messages, tmp_path) == SCENE["content"] + "\n\n" + "\n\n".join(lines)
