"""A PEFT LoRA adapter written as a llama.cpp LoRA GGUF (what `llama-server --lora` loads).

The layout is llama.cpp's (convert_lora_to_gguf.py): for each adapted base tensor
`blk.N.attn_q.weight` two tensors, `….weight.lora_a` and `….weight.lora_b`, holding
PEFT's `lora_A.weight` (rank × in) and `lora_B.weight` (out × rank) as they are. GGUF
lists dimensions fastest first, so they read as ne = (in, rank) and (rank, out): `a`
shares the base weight's ne[0], `b` its ne[1]. llama.cpp scales the product by
`adapter.lora.alpha / rank`, as PEFT does. transformers' GGUF loader neither permutes
nor renames gemma3's projections (only its norms are shifted by one, and LoRA never
touches those), so the HF module names map straight onto the GGUF names.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np

ARCH = "gemma3"
RECIPE_KEY = "local_duel.recipe"  # the recipe's JSON, so the file says what it was made from
_LORA = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


def names(state: Mapping[str, object], n_blocks: int, arch: str = ARCH) -> dict[str, str]:
    """PEFT's adapter keys (`get_peft_model_state_dict`) → llama.cpp's GGUF tensor names."""
    model_arch = next(a for a, known in gguf.MODEL_ARCH_NAMES.items() if known == arch)
    table = gguf.get_tensor_name_map(model_arch, n_blocks)
    named = {}
    for key in state:
        match = _LORA.match(key)
        if not match:
            raise ValueError(f"{key}: not a LoRA A or B weight (embeddings and norms are not adapted here)")
        base = table.get_name(match["module"])
        if base is None:
            raise ValueError(f"{key}: {match['module']} has no llama.cpp tensor in {arch}")
        named[key] = f"{base}.weight.lora_{match['ab'].lower()}"
    return named


def gguf_tensors(state: Mapping[str, object], n_blocks: int, arch: str = ARCH) -> dict[str, np.ndarray]:
    """PEFT's adapter state dict → GGUF name → float32 array."""
    tensors: dict[str, np.ndarray] = {}
    for key, name in names(state, n_blocks, arch).items():
        value = state[key]
        array = value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value, np.float32)
        tensors[name] = np.ascontiguousarray(array, dtype=np.float32)
    for name in [n for n in tensors if n.endswith(".lora_a")]:
        a, b = tensors[name], tensors.get(name[:-1] + "b")
        if b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(f"{name}: A {a.shape} and B {None if b is None else b.shape} are not one LoRA pair")
    return tensors


def write(
    path: Path, state: Mapping[str, object], alpha: float, n_blocks: int,
    recipe_json: str | None = None, name: str = "local-duel LoRA", f16: bool = False, arch: str = ARCH,
) -> Path:
    """Write the adapter to `path` (f32, or f16 with `f16`); the recipe goes in its metadata."""
    tensors = gguf_tensors(state, n_blocks, arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    writer = gguf.GGUFWriter(partial, arch)  # general.architecture, which llama.cpp matches to the model's
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    if recipe_json:
        writer.add_string(RECIPE_KEY, recipe_json)
    for tensor_name, array in sorted(tensors.items(), key=lambda kv: _order(kv[0])):
        writer.add_tensor(tensor_name, array.astype(np.float16) if f16 else array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(path)
    return path


def _order(name: str) -> tuple[int, str]:
    block = re.match(r"blk\.(\d+)\.", name)
    return (int(block[1]) if block else -1, name)


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """An adapter GGUF's tensors (as numpy, in PEFT's row-major shapes) and its metadata."""
    reader = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: np.asarray(t.data).reshape(tuple(int(d) for d in reversed(t.shape))) for t in reader.tensors}
    return tensors, fields
