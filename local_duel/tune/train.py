"""LoRA training of the bundled model on the duel corpus (`local-duel tune`), on the CPU.

The base weights are the bundled GGUF itself, de-quantised by transformers, so the
adapter is trained on exactly the weights llama.cpp serves it on. A scene is tokenized
piece by piece (the pieces' ids concatenated, BOS once), so the cue the app prompts ends
on the same token boundary the model learned; loss is on the lines only. Logits are
taken only where there is a label: the 262k-token vocabulary makes the full logits the
most expensive part of a step. Needs the `tune` extra (PyTorch, transformers, PEFT).
"""

import datetime
import functools
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from local_duel.core import weights
from local_duel.core.paths import ROOT
from local_duel.tune import corpus, lora_gguf

IGNORE = -100  # the label of a token the model is not taught
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Hyper:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    lr: float = 6e-4  # over 444 scenes, read blind against 3e-4 and preferred (docs/quality.md)
    epochs: int = 1  # a second epoch overfit the held-out split (bench/tune-epochs.json)
    max_tokens: int = 512  # the longest training sequence; a longer scene is cut at a line
    batch_tokens: int = 1024  # a batch's padded size (sequences × longest) at most: ~100 steps an epoch on 200 scenes
    warmup: float = 0.06  # of the steps, linear from 0; then cosine to 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    max_steps: int | None = None  # stop early (a short run); None: every epoch
    bf16: bool | None = None  # bfloat16 autocast; None: where the CPU has bf16 instructions (see native_bf16)
    targets: tuple[str, ...] = TARGETS


@dataclass(frozen=True)
class Example:
    ids: list[int]
    labels: list[int]  # IGNORE, or the id itself where it is learned (transformers' convention)

    @property
    def learned(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass
class Result:
    recipe: dict
    adapter: Path
    recipe_path: Path
    losses: list[float] = field(default_factory=list)


@functools.cache
def load_tokenizer(gguf_path: Path):
    """The bundled model's tokenizer, read from its GGUF (about 30 s: kept once loaded)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)


def load_model(gguf_path: Path):
    """The bundled GGUF de-quantised to float32 (about 50 s)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)


def encode(scene: corpus.Scene, tokenizer, max_tokens: int) -> list[Example]:
    """A scene's training sequences: BOS, its pieces' tokens, lines labelled. A scene longer
    than `max_tokens` is cut before a line's cue into several, each opening again with the
    scene and a blank line (a single cue and line longer than that still stays whole)."""
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    pieces = scene.pieces()
    rows = [(ids(pieces[i].text), ids(pieces[i + 1].text)) for i in range(0, len(pieces), 2)]
    assert all(not pieces[i].learned and pieces[i + 1].learned for i in range(0, len(pieces), 2))
    header = [tokenizer.bos_token_id, *ids(scene.scene + "\n\n")]
    sequences, seq_ids, seq_labels = [], [tokenizer.bos_token_id], [IGNORE]
    for context, line in rows:
        if len(seq_ids) + len(context) + len(line) > max_tokens and any(label != IGNORE for label in seq_labels):
            sequences.append(Example(seq_ids, seq_labels))
            seq_ids, seq_labels = list(header), [IGNORE] * len(header)
        seq_ids += context + line
        seq_labels += [IGNORE] * len(context) + line
    sequences.append(Example(seq_ids, seq_labels))
    return sequences


def batches(sequences: list[Example], batch_tokens: int, rng: random.Random) -> list[list[Example]]:
    """One epoch's batches: shuffled, then packed so no batch pads past `batch_tokens`
    (sequences of a similar length go together, from windows of the shuffled order)."""
    order = list(sequences)
    rng.shuffle(order)
    out: list[list[Example]] = []
    window = 64
    for start in range(0, len(order), window):
        batch: list[Example] = []
        for seq in sorted(order[start:start + window], key=lambda s: len(s.ids)):
            if batch and max(len(seq.ids), *(len(s.ids) for s in batch)) * (len(batch) + 1) > batch_tokens:
                out.append(batch)
                batch = []
            batch.append(seq)
        if batch:
            out.append(batch)
    rng.shuffle(out)
    return out


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s.ids) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, s in enumerate(batch):
        ids[row, :len(s.ids)] = torch.tensor(s.ids)
        labels[row, :len(s.labels)] = torch.tensor(s.labels)
        mask[row, :len(s.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX). Without them
    PyTorch emulates it: on an AVX2-only CPU a bf16 linear layer measured 13x slower than
    float32, so autocast there would only cost time."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def summed_loss(model, batch: dict[str, torch.Tensor], bf16: bool = False) -> tuple[torch.Tensor, int]:
    """The batch's summed cross-entropy over its learned tokens, and how many there are:
    hidden states from the inner model, the LM head (and Gemma's soft-cap) only where a
    label is."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = causal.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
        ).last_hidden_state
        targets = batch["labels"][:, 1:]
        where = targets != IGNORE
        logits = causal.lm_head(hidden[:, :-1][where])
    logits = logits.float()
    if cap := getattr(causal.config, "final_logit_softcapping", None):
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, targets[where], reduction="sum"), int(where.sum())


@torch.no_grad()
def mean_loss(model, sequences: list[Example], batch_tokens: int, pad_id: int, bf16: bool = False) -> float | None:
    """Mean loss per learned token over `sequences`, in eval mode (None: no sequences)."""
    if not sequences:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches(sequences, batch_tokens, random.Random(0)):
        loss, n = summed_loss(model, collate(batch, pad_id), bf16)
        total, count = total + float(loss), count + n
    model.train(was_training)
    return total / max(count, 1)


def schedule(step: int, total: int, warmup_steps: int) -> float:
    """The learning rate's factor: linear warmup, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def tune(
    corpus_dir: Path = corpus.CORPUS,
    out_dir: Path | None = None,
    hyper: Hyper = Hyper(),
    models_dir: Path = ROOT / "models",
    say: Callable[[str], None] = print,
) -> Result:
    """Train the adapter on `corpus_dir/train`, measure it on `corpus_dir/held_out`, and
    write `duel-lora.gguf` and `recipe.json` into `out_dir` (default: models/adapter/)."""
    started = time.monotonic()
    out_dir = out_dir or models_dir / Path(weights.ADAPTER_FILE).parent
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(hyper.seed)
    rng = random.Random(hyper.seed)
    bf16 = native_bf16() if hyper.bf16 is None else hyper.bf16
    base_path = weights.llm_path(models_dir)
    train_scenes, held_scenes = corpus.load("train", corpus_dir), corpus.load("held_out", corpus_dir)
    if not train_scenes:
        raise corpus.CorpusError(f"{corpus_dir / 'train'}: no scenes to train on")
    tokenizer = load_tokenizer(base_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train = [s for scene in train_scenes for s in encode(scene, tokenizer, hyper.max_tokens)]
    held = [s for scene in held_scenes for s in encode(scene, tokenizer, hyper.max_tokens)]
    say(f"{len(train_scenes)} scenes → {len(train)} sequences, {sum(len(s.ids) for s in train)} tokens "
        f"({sum(s.learned for s in train)} learned); held out {len(held_scenes)} scenes, {len(held)} sequences")

    say(f"loading {base_path.name} (de-quantising to float32)…")
    model = _with_lora(load_model(base_path), hyper)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    held_base = mean_loss(model, held, hyper.batch_tokens, pad_id, bf16)  # B is zero: exactly the base model
    say(f"{trainable / 1e6:.1f}M trainable parameters, {'bfloat16 autocast' if bf16 else 'float32'}; held-out loss of the base model: {_fmt(held_base)}")

    plan = [batches(train, hyper.batch_tokens, rng) for _ in range(hyper.epochs)]
    total = sum(len(epoch) for epoch in plan)
    if hyper.max_steps is not None:
        total = min(total, hyper.max_steps)
    step, epoch_losses, seen_tokens, train_seconds = _train(model, plan, total, hyper, pad_id, bf16)
    held_tuned = mean_loss(model, held, hyper.batch_tokens, pad_id, bf16)
    say(f"held-out loss: base {_fmt(held_base)} → tuned {_fmt(held_tuned)}")

    recipe = {
        "base_model": base_path.name,
        "base_sha256": weights.sha256(base_path),
        "corpus_digest": corpus.digest(corpus_dir),
        "corpus_files": corpus.files(corpus_dir),
        "hyperparameters": {**asdict(hyper), "targets": list(hyper.targets), "bf16": bf16},
        "trainable_parameters": trainable,
        "train": _counts(train_scenes, train),
        "held_out": _counts(held_scenes, held),
        "steps": step,
        "loss_per_epoch": [round(x, 5) for x in epoch_losses],
        "held_out_loss": {"base": _round(held_base), "tuned": _round(held_tuned)},
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / max(step, 1), 2),
        "tokens_per_second": round(seen_tokens / max(train_seconds, 1e-9), 1),
        "torch_threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    adapter, recipe_path = _write(model, recipe, out_dir, hyper.alpha)
    say(f"wrote {adapter} and {recipe_path} in {recipe['wall_seconds']} s "
        f"({recipe['seconds_per_step']} s/step, {recipe['tokens_per_second']} tokens/s)")
    return Result(recipe, adapter, recipe_path, epoch_losses)


def _with_lora(model, hyper: Hyper):
    """The base model with LoRA's A and B beside the target layers (B zero: still the base)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(
        r=hyper.r, lora_alpha=hyper.alpha, lora_dropout=hyper.dropout, target_modules=list(hyper.targets),
        bias="none", task_type="CAUSAL_LM",
    ))


def _train(model, plan: list[list], total: int, hyper: Hyper, pad_id: int, bf16: bool) -> tuple[int, list[float], int, float]:
    """AdamW over the planned batches, `total` steps at most: the steps taken, each epoch's
    loss per learned token, the tokens seen, and the seconds it took."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hyper.lr,
                                  weight_decay=hyper.weight_decay)
    warmup_steps = round(hyper.warmup * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule(step, total, warmup_steps))

    model.train()
    step, epoch_losses, seen_tokens = 0, [], 0
    train_started = time.monotonic()
    bar = tqdm(total=total, unit="step", desc="tune", dynamic_ncols=True)
    for epoch, epoch_batches in enumerate(plan, 1):
        summed, counted = 0.0, 0
        for batch in epoch_batches:
            if step >= total:
                break
            tensors = collate(batch, pad_id)
            loss, n = summed_loss(model, tensors, bf16)
            (loss / max(n, 1)).backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], hyper.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            summed, counted = summed + float(loss.detach()), counted + n
            seen_tokens += int(tensors["attention_mask"].sum())
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{float(loss.detach()) / max(n, 1):.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        if counted:
            epoch_losses.append(summed / counted)
            bar.write(f"epoch {epoch}: loss {epoch_losses[-1]:.4f} over {counted} learned tokens")
        if step >= total:
            break
    bar.close()
    return step, epoch_losses, seen_tokens, time.monotonic() - train_started


def _write(model, recipe: dict, out_dir: Path, alpha: int) -> tuple[Path, Path]:
    """The adapter as a llama.cpp GGUF (its recipe inside), and the recipe beside it."""
    from peft import get_peft_model_state_dict

    adapter = lora_gguf.write(
        out_dir / Path(weights.ADAPTER_FILE).name, get_peft_model_state_dict(model), alpha,
        model.get_base_model().config.num_hidden_layers, recipe_json=json.dumps(recipe, sort_keys=True), f16=True,
    )
    recipe["adapter_sha256"] = weights.sha256(adapter)
    recipe_path = out_dir / Path(weights.RECIPE_FILE).name
    recipe_path.write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    return adapter, recipe_path


def _counts(scenes: list[corpus.Scene], sequences: list[Example]) -> dict:
    return {
        "scenes": len(scenes), "lines": sum(len(s.lines) for s in scenes), "sequences": len(sequences),
        "tokens": sum(len(s.ids) for s in sequences), "learned_tokens": sum(s.learned for s in sequences),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 5)


def _fmt(x: float | None) -> str:
    return "n/a (no held-out scenes)" if x is None else f"{x:.4f}"
