"""The lab's report: ``report.md`` and a self-contained ``report.html`` (figures embedded), from the
``result.json`` files of a results folder alone.

Per experiment: the claim, the verdict (recomputed from the stored numbers by the experiment's own
``verdict``, so a report never carries text its numbers do not support), the setup, the parameter
counts, the tables (ours beside the published figures), the highlighted texts (HTML only: one
coloured span per character) and the figures with their captions.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from . import experiment
from .runner import load

TITLE = "rnnkit lab: the study notes' claims, measured"


def verdict_of(name: str, result: dict) -> str:
    """The experiment's verdict on ``result``'s numbers; never the stored text (numbers that
    this version's experiment cannot read give no verdict, and say so)."""
    try:
        return experiment(name).verdict(result)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError, OverflowError):
        return "(no verdict: the result lacks the numbers this version reads, or they are not numbers)"


def write(folder: str | Path) -> tuple[Path, Path]:
    """Writes ``folder/report.md`` and ``folder/report.html``; returns their paths. A ValueError
    when ``folder`` holds no result."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of lab results; run rnnkit lab run NAME --out {folder} first")
    results = load(folder)
    if not results:
        raise ValueError(f"{folder} holds no lab result (NAME/result.json); run rnnkit lab run all --out {folder}")
    md, page = folder / "report.md", folder / "report.html"
    _atomic_write(md, markdown(results, folder))
    _atomic_write(page, html_page(results))
    return md, page


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(results: dict[str, dict]) -> list[tuple[str, str, str]]:
    return [(name, r.get("claim", ""), verdict_of(name, r)) for name, r in results.items()]


def _setup_line(r: dict) -> str:
    seeds, machine = r.get("seeds", []), r.get("machine", {})
    # results from before --device have no device: they ran on the CPU
    device = machine.get("device", "cpu")
    where = f"{machine.get('threads', '?')} thread(s)" if device == "cpu" else \
        f"{device} ({machine.get('accelerator', '?')})"
    return (f"preset {r.get('preset')}, {len(seeds)} seed(s), {r.get('seconds', 0):.0f} s on "
            f"{where}, torch {r.get('versions', {}).get('torch', '?')}, "
            f"finished {r.get('finished', '?')}")


def markdown(results: dict[str, dict], folder: Path) -> str:
    lines = [f"# {TITLE}", "", "| experiment | claim | verdict |", "|---|---|---|"]
    lines += [f"| [{n}](#{n}) | {_md(c)} | {_md(v)} |" for n, c, v in _summary(results)]
    for name, r in results.items():
        lines += ["", f"## {name}", "", f"**Claim.** {r.get('claim', '')}", "",
                  f"**Verdict.** {verdict_of(name, r)}", "", f"**Setup.** {r.get('setup', '')}", "",
                  f"*{_setup_line(r)}*", ""]
        if r.get("parameters"):
            lines += ["Parameters: " + ", ".join(f"{k} {v:,}" for k, v in r["parameters"].items()), ""]
        for t in r.get("tables", []):
            lines += [f"**{t['title']}**", "", "| " + " | ".join(map(_md, t["columns"])) + " |",
                      "|" + "---|" * len(t["columns"])]
            lines += ["| " + " | ".join(_md(_cell(c)) for c in row) + " |" for row in t["rows"]]
            lines.append("")
        for h in r.get("highlights", []):
            lines += [f"**{_md(h['title'])}** (coloured text, one colour per character: see report.html)", "",
                      f"*{_md(h['caption'])}*", ""]
        base = Path(r.get("folder", folder / name))
        for f in r.get("figures", []):
            rel = Path(base / f["file"]).relative_to(folder) if (base / f["file"]).is_relative_to(folder) \
                else base / f["file"]
            lines += [f"![{_md(f['caption'])}]({rel.as_posix()})", "", f"*{_md(f['caption'])}*", ""]
    return "\n".join(lines) + "\n"


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def html_page(results: dict[str, dict]) -> str:
    e = lambda s: html.escape(str(s))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(TITLE)}</title><style>"
             "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "text-align:left}th{background:#f3f3f3}img{max-width:100%}figcaption{font-style:italic;color:#444}"
             ".verdict{background:#eef6ee;padding:.5em .8em;border-left:4px solid #4a4}.meta{color:#666}"
             ".chars{font-family:ui-monospace,monospace;font-size:13px;white-space:pre-wrap;line-height:1.6;"
             "border:1px solid #ddd;padding:.5em}"
             "</style></head><body>", f"<h1>{e(TITLE)}</h1>",
             "<table><tr><th>experiment</th><th>claim</th><th>verdict</th></tr>"]
    parts += [f"<tr><td><a href='#{e(n)}'>{e(n)}</a></td><td>{e(c)}</td><td>{e(v)}</td></tr>"
              for n, c, v in _summary(results)]
    parts.append("</table>")
    for name, r in results.items():
        parts += [f"<h2 id='{e(name)}'>{e(name)}</h2>", f"<p><b>Claim.</b> {e(r.get('claim', ''))}</p>",
                  f"<p class='verdict'><b>Verdict.</b> {e(verdict_of(name, r))}</p>",
                  f"<p><b>Setup.</b> {e(r.get('setup', ''))}</p>", f"<p class='meta'>{e(_setup_line(r))}</p>"]
        if r.get("parameters"):
            parts.append("<p>Parameters: " + e(", ".join(f"{k} {v:,}" for k, v in r["parameters"].items())) + "</p>")
        for t in r.get("tables", []):
            parts.append(f"<p><b>{e(t['title'])}</b></p><table><tr>"
                         + "".join(f"<th>{e(c)}</th>" for c in t["columns"]) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in row) + "</tr>" for row in t["rows"]]
            parts.append("</table>")
        parts += [highlight_html(h) for h in r.get("highlights", [])]
        base = Path(r.get("folder", "."))
        for f in r.get("figures", []):
            path = base / f["file"]  # a bare name (runner.load checks it): only the result's own folder
            if path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n":
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                parts.append(f"<figure><img alt='{e(f['caption'])}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(f['caption'])}</figcaption></figure>")
            else:
                parts.append(f"<p class='meta'>(figure {e(f['file'])} is missing)</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _colour(value: float) -> str:
    """A background for a value in [-1, 1]: red for positive, blue for negative, white at 0
    (non-finite values, e.g. a padded step, stay white)."""
    v = max(-1.0, min(1.0, value)) if value == value and abs(value) != float("inf") else 0.0
    return f"rgba(220,40,40,{v:.2f})" if v >= 0 else f"rgba(40,90,220,{-v:.2f})"


def highlight_html(h: dict) -> str:
    """One highlight: its title, the text with one coloured span per character, the caption."""
    text, values = h["text"], h["values"]
    if len(values) != len(text):
        return f"<p class='meta'>(highlight {html.escape(h.get('title', ''))}: {len(values)} values for " \
               f"{len(text)} characters; not shown)</p>"
    spans = "".join(f"<span style='background:{_colour(float(v))}'>{html.escape(ch)}</span>"
                    for ch, v in zip(text, values))
    return (f"<figure><p><b>{html.escape(h.get('title', ''))}</b></p><div class='chars'>{spans}</div>"
            f"<figcaption>{html.escape(h.get('caption', ''))}</figcaption></figure>")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


__all__ = ["write", "markdown", "html_page", "verdict_of", "highlight_html"]
