"""Character-level language model on the bundled Shakespeare: rnnkit against a plain torch.nn loop.

The plain loop is written the way PyTorch's word-language-model example writes it (time-major
``batchify``/``get_batch``, ``repackage_hidden``, ``torch.nn.LSTM``, gradient clipping), with the
same vocabulary, data, model size, optimiser (AdamW), learning-rate rule (halve on a validation
plateau) and wall-clock budget as rnnkit's trainer.

1. Throughput: the two training loops alternate in blocks of steps (interleaved, so machine noise
   hits both), median tokens/s and their ratio. Target: rnnkit >= 0.95x the plain loop.
2. Quality: each trains for the same wall clock (10 minutes for the LSTM); both final best models
   are scored by the same function on the validation split. Target: <= 1.40 nats/char and no worse
   than the plain loop. GRU and RNN are reported too (shorter budget).

    python benchmarks/bench_lm.py [--minutes 10] [--minutes-other 3] [--cells lstm,gru,rnn]
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

from rnnkit.config import LMConfig, ModelConfig, TrainConfig
from rnnkit.tasks.language_model import LanguageModel, LanguageModelTask, evaluate_stream
from rnnkit.text import corpora
from rnnkit.train.trainer import Trainer, seed_everything

SIZE = {"embedding_size": 64, "hidden_size": 512, "num_layers": 1}
BATCH, BPTT, LR, CLIP, EVAL_EVERY = 32, 128, 3e-3, 1.0, 400


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


def make_task(cell, texts, out, minutes):
    model = ModelConfig(cell=cell, dropout=0.0, **SIZE)
    cfg = TrainConfig(out=str(out), epochs=100, batch_size=BATCH, lr=LR, clip=CLIP, max_minutes=minutes,
                      eval_every=EVAL_EVERY, patience=0, lr_decay=2.0, seed=0)
    return LanguageModelTask.from_text(texts["train"], texts["validation"], model, LMConfig(level="char", bptt=BPTT),
                                       cfg), cfg


def throughput(cell, texts, blocks=7, steps=15):
    """Interleaved blocks of training steps; median tokens/s of each loop."""
    task, _ = make_task(cell, texts, "runs/bench_lm/throughput", None)
    plain = PlainLoop(cell, task.tbptt.streams.reshape(-1), len(task.encoder.vocab))
    opt = torch.optim.AdamW(task.model.parameters(), lr=LR, weight_decay=0.0)
    windows = iter(task.train_batches(1))
    task.model.train()

    def ours() -> int:
        loss, count = task.loss(next(windows))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.model.parameters(), CLIP)
        opt.step()
        return count

    rates = {"rnnkit": [], "plain": []}
    ours()  # warm-up
    plain.step()
    for _ in range(blocks):
        for name, fn in (("rnnkit", ours), ("plain", plain.step)):
            t0, n = time.perf_counter(), 0
            for _ in range(steps):
                n += fn()
            rates[name].append(n / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in rates.items()}


def quality(cell, texts, minutes, work):
    task, cfg = make_task(cell, texts, work / f"rnnkit-{cell}", minutes)
    start = time.perf_counter()
    Trainer(task, cfg, progress=False).fit()
    ours_seconds = time.perf_counter() - start
    ours = LanguageModel.load(cfg.out)
    valid = ours.encoder.encode(texts["validation"])
    ours_eval = evaluate_stream(ours.model, valid, BPTT, len(texts["validation"]) / valid.shape[0])

    plain = PlainLoop(cell, task.tbptt.streams.reshape(-1), len(task.encoder.vocab))
    adapter, best, best_state, stale_lr = BatchFirst(plain.model), float("inf"), None, LR
    start, tokens = time.perf_counter(), 0
    while time.perf_counter() - start < 60 * minutes:
        tokens += plain.step()
        if plain.steps % EVAL_EVERY == 0:
            loss = evaluate_stream(adapter, valid, BPTT, 1.0)["loss"]
            if loss < best:
                best, best_state = loss, {k: v.clone() for k, v in plain.model.state_dict().items()}
            else:
                stale_lr /= 2.0
                for g in plain.opt.param_groups:
                    g["lr"] = stale_lr
    final = evaluate_stream(adapter, valid, BPTT, 1.0)["loss"]
    if final < best:
        best_state = {k: v.clone() for k, v in plain.model.state_dict().items()}
    plain.model.load_state_dict(best_state)
    plain_eval = evaluate_stream(adapter, valid, BPTT, len(texts["validation"]) / valid.shape[0])
    return {"cell": cell, "minutes": minutes, "rnnkit_valid_loss": ours_eval["loss"],
            "rnnkit_bits_per_char": ours_eval["bits_per_char"], "rnnkit_steps": json.loads(
                (Path(cfg.out) / "checkpoint.json").read_text())["step"], "rnnkit_seconds": ours_seconds,
            "plain_valid_loss": plain_eval["loss"], "plain_bits_per_char": plain_eval["bits_per_char"],
            "plain_steps": plain.steps}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="wall clock for the LSTM runs")
    ap.add_argument("--minutes-other", type=float, default=3.0, help="wall clock for the GRU and RNN runs")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--work", default="runs/bench_lm")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_lm.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    texts = corpora.load("shakespeare")
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    rows = []
    for cell in cells:
        rate = throughput(cell, texts)
        ratio = rate["rnnkit"] / rate["plain"]
        print(f"{cell}: tokens/s rnnkit {rate['rnnkit']:.0f}, plain loop {rate['plain']:.0f}, ratio {ratio:.3f} "
              f"(target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})", flush=True)
        minutes = args.minutes if cell == "lstm" else args.minutes_other
        q = quality(cell, texts, minutes, Path(args.work))
        print(f"{cell}: {minutes:g} min, validation nats/char rnnkit {q['rnnkit_valid_loss']:.4f} "
              f"({q['rnnkit_steps']} steps to the best), plain loop {q['plain_valid_loss']:.4f} "
              f"({q['plain_steps']} steps)", flush=True)
        if cell == "lstm":
            ok = q["rnnkit_valid_loss"] <= 1.40
            print(f"lstm: target <= 1.40 nats/char in {minutes:g} min: {'met' if ok else 'NOT met'}; no worse than "
                  f"the plain loop: {'met' if q['rnnkit_valid_loss'] <= q['plain_valid_loss'] + 1e-3 else 'NOT met'}")
        rows.append({**q, "tokens_per_second": rate, "throughput_ratio": ratio})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "bench_lm", "torch": torch.__version__, "threads": 2, "size": SIZE,
                               "batch": BATCH, "bptt": BPTT, "lr": LR, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "results": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
