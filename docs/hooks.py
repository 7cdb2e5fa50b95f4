"""mkdocs hooks (see ``mkdocs.yml``): pages that exist only in the built site.

* ``cli.md``, the command-line reference, generated from ``rnnkit.cli.build_parser()`` by
  ``docs/gen_cli.py``, so it cannot drift from the parser;
* ``changelog.md``, the repository's ``CHANGELOG.md`` with its links into ``docs/`` made relative
  to the site.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mkdocs.structure.files import File

HERE = Path(__file__).resolve().parent


def _gen_cli():
    spec = importlib.util.spec_from_file_location("rnnkit_docs_gen_cli", HERE / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replace(files, config, name: str, content: str) -> None:
    stale = files.get_file_from_path(name)  # e.g. a docs/cli.md written by hand: the generated one wins
    if stale is not None:
        files.remove(stale)
    files.append(File.generated(config, name, content=content))


def on_files(files, config):
    _replace(files, config, "cli.md", _gen_cli().render())
    changelog = (HERE.parent / "CHANGELOG.md").read_text(encoding="utf-8")
    _replace(files, config, "changelog.md", re.sub(r"\]\(docs/", "](", changelog))
    return files
