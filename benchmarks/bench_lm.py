"""Character-level language model on the bundled Shakespeare: rnnkit against a plain torch.nn loop.

The plain loop is written the way PyTorch's word-language-model example writes it (time-major
``batchify``/``get_batch``, ``repackage_hidden``, ``torch.nn.LSTM``, gradient clipping), with the
same vocabulary, data, model size, batch, window, optimiser (AdamW), learning-rate rule, precision
and budget as rnnkit's trainer: rnnkit's measured recipe (``rnnkit.config.LM_RECIPE``: 16 streams,
windows of 64, LSTM 640 x 1, lr 3e-3 warmed up over 50 steps and decayed linearly to zero over
the budget, bfloat16 autocast where the CPU has native bfloat16), applied to both.

1. Throughput: the two training loops alternate in blocks of steps (interleaved, so machine noise
   hits both), median tokens/s and their ratio, in float32 and in the recipe's precision.
   Target: rnnkit >= 0.95x the plain loop.
2. Quality: the LSTM trains for 4 epochs or 10 minutes, whichever ends first (10 minutes cover
   about 2.7 epochs in bfloat16 on 2 cores), evaluating at each epoch's end; the best model of each loop
   is scored by the same function on the validation split. Target: <= 1.40 nats/char and no worse
   than the plain loop. GRU and RNN are reported too (3 minutes, float32).

    python benchmarks/bench_lm.py [--minutes 10] [--epochs 4] [--minutes-other 3] [--epochs-other N]
                                   [--cells lstm,gru,rnn]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import LM_RECIPE
from rnnkit.tasks.language_model import LanguageModel, LanguageModelTask, evaluate_stream, recipe_configs
from rnnkit.text import corpora
from rnnkit.train.runtime import resolve_precision, seed_everything
from rnnkit.train.trainer import Trainer

SIZE = {k: LM_RECIPE[k] for k in ("embedding_size", "hidden_size", "num_layers")}
BATCH, BPTT, LR, CLIP, WARMUP = (LM_RECIPE[k] for k in ("batch_size", "bptt", "lr", "clip", "warmup_steps"))


class PlainRNNModel(nn.Module):
    """pytorch/examples word_language_model/model.py, reduced to what this comparison uses."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):  # input (T, B)
        output, hidden = self.rnn(self.encoder(input), hidden)
        return self.decoder(output), hidden


class BatchFirst(nn.Module):
    """Presents the plain model to rnnkit's evaluation (batch-first tokens, logits (B, T, V))."""

    def __init__(self, plain):
        super().__init__()
        self.plain = plain

    def forward(self, tokens, state=None):
        logits, state = self.plain(tokens.t(), state)
        return logits.transpose(0, 1), state


def repackage_hidden(h):
    return tuple(repackage_hidden(v) for v in h) if isinstance(h, tuple) else h.detach()


class PlainLoop:
    """The example's training loop, one step at a time."""

    def __init__(self, cell, train_ids, vocab_size):
        seed_everything(0)
        self.model = PlainRNNModel(cell.upper() if cell != "rnn" else "RNN", vocab_size, SIZE["embedding_size"],
                                   SIZE["hidden_size"], SIZE["num_layers"])
        n = train_ids.shape[0] // BATCH
        self.data = train_ids[: n * BATCH].view(BATCH, -1).t().contiguous()  # batchify: (T, B)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=0.0)
        self.i, self.hidden, self.steps = 0, None, 0

    def step(self) -> int:
        if self.i >= self.data.shape[0] - 1:
            self.i, self.hidden = 0, None
        seq_len = min(BPTT, self.data.shape[0] - 1 - self.i)
        data, targets = self.data[self.i : self.i + seq_len], self.data[self.i + 1 : self.i + 1 + seq_len]
        self.model.train()
        self.model.zero_grad()
        self.hidden = None if self.hidden is None else repackage_hidden(self.hidden)
        output, self.hidden = self.model(data, self.hidden)
        loss = F.cross_entropy(output.view(-1, output.shape[-1]), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        self.opt.step()
        self.i += seq_len
        self.steps += 1
        return targets.numel()

    def epoch_done(self) -> bool:
        return self.i >= self.data.shape[0] - 1


def make_task(cell, texts, out, minutes, precision, epochs=100):
    model, lm, cfg = recipe_configs(str(out), cell=cell, epochs=epochs, max_minutes=minutes, patience=0, seed=0,
                                    precision=precision, overwrite=True)  # a rerun replaces its own runs
    return LanguageModelTask.from_text(texts["train"], texts["validation"], model, lm, cfg), cfg


def scheduled_lr(step, seconds, budget, total_steps):
    """The trainer's rule, for the plain loop: linear warm-up, then linear decay to zero over the
    budget (the furthest along of the time and the epochs)."""
    progress = min(1.0, max(seconds / budget, step / total_steps))
    return LR * min(1.0, (step + 1) / WARMUP) * (1.0 - progress)


def throughput(cell, texts, precision, blocks=7, steps=40):
    """Interleaved blocks of training steps; median tokens/s of each loop."""
    task, _ = make_task(cell, texts, "runs/bench_lm/throughput", None, precision)
    plain = PlainLoop(cell, task.tbptt.streams.reshape(-1), len(task.codec.vocab))
    opt = torch.optim.AdamW(task.model.parameters(), lr=LR, weight_decay=0.0)
    windows = iter(task.train_batches(1))
    task.model.train()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")

    def ours() -> int:
        with autocast:
            loss, count = task.loss(next(windows))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.model.parameters(), CLIP)
        opt.step()
        return count

    def theirs() -> int:
        with autocast:
            return plain.step()

    rates = {"rnnkit": [], "plain": []}
    ours()  # warm-up
    theirs()
    for _ in range(blocks):
        for name, fn in (("rnnkit", ours), ("plain", theirs)):
            t0, n = time.perf_counter(), 0
            for _ in range(steps):
                n += fn()
            rates[name].append(n / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in rates.items()}


def quality(cell, texts, minutes, epochs, precision, work):
    """Each loop trains for ``epochs`` or ``minutes``, whichever ends first, evaluating at each
    epoch's end; the best model of each is scored on the validation split."""
    task, cfg = make_task(cell, texts, work / f"rnnkit-{cell}", minutes, precision, epochs)
    start = time.perf_counter()
    Trainer(task, cfg, progress=False).fit()
    ours_seconds = time.perf_counter() - start
    ours = LanguageModel.load(cfg.out)
    valid = ours.encode(texts["validation"])
    ours_eval = evaluate_stream(ours.model, valid, BPTT, len(texts["validation"]) / valid.shape[0])

    plain = PlainLoop(cell, task.tbptt.streams.reshape(-1), len(task.codec.vocab))
    adapter, best, best_state = BatchFirst(plain.model), float("inf"), None
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")
    total_steps = epochs * len(task.tbptt)
    start, budget = time.perf_counter(), 60 * minutes
    while time.perf_counter() - start < budget and plain.steps < total_steps:
        for g in plain.opt.param_groups:
            g["lr"] = scheduled_lr(plain.steps, time.perf_counter() - start, budget, total_steps)
        with autocast:
            plain.step()
        if plain.epoch_done():
            loss = evaluate_stream(adapter, valid, BPTT, 1.0)["loss"]
            if loss < best:
                best, best_state = loss, {k: v.clone() for k, v in plain.model.state_dict().items()}
    plain_seconds = time.perf_counter() - start
    final = evaluate_stream(adapter, valid, BPTT, 1.0)["loss"]
    if final < best:
        best_state = {k: v.clone() for k, v in plain.model.state_dict().items()}
    plain.model.load_state_dict(best_state)
    plain_eval = evaluate_stream(adapter, valid, BPTT, len(texts["validation"]) / valid.shape[0])
    meta = json.loads((Path(cfg.out) / "checkpoint.json").read_text())
    return {"cell": cell, "minutes": minutes, "epochs": epochs, "precision": precision,
            "rnnkit_valid_loss": ours_eval["loss"], "rnnkit_bits_per_char": ours_eval["bits_per_char"],
            "rnnkit_best_step": meta["step"], "rnnkit_seconds": ours_seconds,
            "plain_valid_loss": plain_eval["loss"], "plain_bits_per_char": plain_eval["bits_per_char"],
            "plain_steps": plain.steps, "plain_seconds": plain_seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="wall clock for the LSTM runs")
    ap.add_argument("--epochs", type=int, default=4, help="epoch budget of the LSTM runs (the wall clock caps it)")
    ap.add_argument("--minutes-other", type=float, default=3.0, help="wall clock for the GRU and RNN runs")
    ap.add_argument("--epochs-other", type=int, default=100, help="epoch budget of the GRU and RNN runs")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--work", default="runs/bench_lm")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_lm.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    texts = corpora.load("shakespeare")
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    # The LSTM runs the recipe's precision (bfloat16 where the CPU has it, in both loops); GRU and
    # RNN run float32, since rnnkit's own recurrences do not use bfloat16.
    recipe_precision = resolve_precision(LM_RECIPE["precision"], torch.device("cpu"))
    rows = []
    for cell in cells:
        precision = recipe_precision if cell == "lstm" else "float32"
        rates = {p: throughput(cell, texts, p) for p in dict.fromkeys(["float32", precision])}
        for p, rate in rates.items():
            ratio = rate["rnnkit"] / rate["plain"]
            print(f"{cell} {p}: tokens/s rnnkit {rate['rnnkit']:.0f}, plain loop {rate['plain']:.0f}, ratio "
                  f"{ratio:.3f} (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})", flush=True)
        minutes = args.minutes if cell == "lstm" else args.minutes_other
        epochs = args.epochs if cell == "lstm" else args.epochs_other
        q = quality(cell, texts, minutes, epochs, precision, Path(args.work))
        print(f"{cell}: {precision}, {epochs} epochs or {minutes:g} min: validation nats/char rnnkit "
              f"{q['rnnkit_valid_loss']:.4f} ({q['rnnkit_seconds']:.0f} s), plain loop {q['plain_valid_loss']:.4f} "
              f"({q['plain_steps']} steps, {q['plain_seconds']:.0f} s)", flush=True)
        if cell == "lstm":
            ok = q["rnnkit_valid_loss"] <= 1.40
            same = q["rnnkit_valid_loss"] <= q["plain_valid_loss"] + 1e-3
            print(f"lstm: target <= 1.40 nats/char within {minutes:g} min: {'met' if ok else 'NOT met'}; no worse "
                  f"than the plain loop: {'met' if same else 'NOT met'}")
        rows.append({**q, "tokens_per_second": rates,
                     "throughput_ratio": {p: r["rnnkit"] / r["plain"] for p, r in rates.items()}})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "bench_lm", "torch": torch.__version__, "threads": 2, "recipe": LM_RECIPE,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
