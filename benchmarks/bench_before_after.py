"""Two rnnkit trees against each other (a commit before a change and after it): fused-path
training steps with and without variable lengths, and a beam search. Each tree runs in its own
process, the two alternating three times; medians per process, then the median of the three.

    git archive 1c7e829 | tar -x -C /tmp/old
    python benchmarks/bench_before_after.py /tmp/old . benchmarks/results/bench_before_after_probes.json

Used for the fixes after the hostile probes (the fused output's own copy, zeroed padded inputs,
eos first among tied beam candidates). The machine's noise between processes is about +-10 %.
"""
import json
import os
import statistics
import subprocess
import sys

CODE = r'''
import time, torch, statistics, json, sys
import rnnkit.nn as nn
from rnnkit.decode import beam_search
torch.set_num_threads(2); torch.manual_seed(0)
out = {}
for cell in ("GRU", "LSTM", "RNN"):
    for varlen in (False, True):
        m = getattr(nn, cell)(128, 256, batch_first=True, backend="bptt")
        x = torch.randn(64, 100, 128)
        lengths = torch.randint(25, 101, (64,)) if varlen else None
        ts = []
        for i in range(12):
            t = time.perf_counter()
            o, _ = m(x, lengths=lengths)
            o.sum().backward()
            ts.append(time.perf_counter() - t)
        out[f"{cell} B64 T100 128->256{' varlen' if varlen else ''}"] = statistics.median(ts[2:])
class Rand:
    pad_id, bos_id, eos_id = 0, 1, 2
    def __init__(self): self.W = torch.randn(64, 10000) * 3
    def init_decoder_state(self, src, L): return torch.randn(src.shape[0], 64)
    def decode_step(self, tok, s): return torch.log_softmax(s @ self.W, -1), torch.tanh(s + 0.1), None
    def reorder_state(self, s, i): return s[i]
m = Rand(); src = torch.zeros(32, 1, dtype=torch.long); L = torch.ones(32, dtype=torch.long)
ts = []
for i in range(7):
    torch.manual_seed(1)
    t = time.perf_counter()
    beam_search(m, src, L, beam_size=5, max_len=30)
    ts.append(time.perf_counter() - t)
out["beam_search B32 K5 V10000 30 steps"] = statistics.median(ts[1:])
print(json.dumps(out))
'''
old_tree, new_tree, out_path = (os.path.abspath(a) for a in sys.argv[1:4])
runs = {"old": [], "new": []}
for _ in range(3):
    for name, path in (("old", old_tree), ("new", new_tree)):
        env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "2"}
        res = subprocess.run([sys.executable, "-c", CODE], env=env, cwd="/", capture_output=True, text=True, check=True)
        runs[name].append(json.loads(res.stdout))
keys = runs["old"][0]
summary = {k: {"old_ms": round(1000 * statistics.median(r[k] for r in runs["old"]), 1),
               "new_ms": round(1000 * statistics.median(r[k] for r in runs["new"]), 1)} for k in keys}
for k, v in summary.items():
    v["new/old"] = round(v["new_ms"] / v["old_ms"], 3)
    print(f"{k:40s} old {v['old_ms']:8.1f} ms  new {v['new_ms']:8.1f} ms  new/old {v['new/old']:.3f}")
with open(out_path, "w") as f:
    json.dump({"what": f"{old_tree} (old) vs {new_tree} (new), medians over 3 alternating processes, 2 threads",
               "results": summary}, f, indent=1)
