"""The README's walk-through runs as written against a live server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(language: str, section: str) -> list[str]:
    text = README.read_text()
    start = text.index(section)
    end = text.index("\n## ", start + len(section))
    return re.findall(rf"```{language}\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_readme_curl_walkthrough_runs(server_url: str, token: str) -> None:
    script = "\n".join(b for b in _blocks("sh", "## Five-minute walk-through")
                       if "metering token create" not in b)
    script = script.replace("localhost:8000", server_url.removeprefix("http://"))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], check=True,
                         capture_output=True, text=True, env={**os.environ, "TOKEN": token},
                         timeout=60).stdout
    assert '"inserted":1,"duplicates":1,"conflicts":0' in out
    assert '"total_count":1' in out


def test_readme_sdk_snippet_runs(server_url: str, token: str, capsys: object) -> None:
    (snippet,) = _blocks("python", "## Five-minute walk-through")
    setup = ("from polar.v2026_10.client import Polar\n"
             f"with Polar(access_token={token!r}, base_url={server_url!r}) as p:\n"
             "    p.customers.create(email='ada@example.com', external_id='ada')\n")
    exec(compile(setup, "setup", "exec"), {})  # noqa: S102
    exec(compile(snippet.replace("http://127.0.0.1:8000", server_url), "README", "exec"),  # noqa: S102
         {"TOKEN": token})
    assert "1 ['llm.call']" in capsys.readouterr().out  # type: ignore[attr-defined]
