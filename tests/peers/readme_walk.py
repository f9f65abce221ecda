"""Walk the README as a new user would: its shell commands, in order, in a fresh clone.

:func:`readme_commands` reads the fenced ``bash`` blocks of chosen README sections and splits
them into the commands a person would paste (continuation lines joined, ``for … done`` kept
whole, comments dropped). :func:`walk_script` turns them into one bash script that runs them
in order in a clone, each with its output in its own log: commands that serve until stopped
(the simulator, the status API, the alert follower, a live run) are started in the background
and probed, everything else must exit 0. A few things a README cannot hold literally — a
PostgreSQL host, a chat URL, the id a previous command printed — are substituted from
:data:`SUBSTITUTIONS`; every substitution is listed in the script's header.

:func:`prepare_clone` clones the checkout into a folder outside the checkout's parent and
gives it a ``.venv`` that resolves the project's third-party packages from this checkout's
environment and the project itself from the clone (an editable install), so ``make install``
is already satisfied there without a second full download of every wheel.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DOCUMENTED_REFUSALS",
    "SUBSTITUTIONS",
    "Command",
    "prepare_clone",
    "readme_commands",
    "walk_script",
]

REPO = Path(__file__).resolve().parents[2]

# What a README cannot say literally, and what the walk puts in its place (bash text, expanded
# when the command runs). Each pattern is a regular expression over one command.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    (r"postgresql\+psycopg://user@host/db", "$WALK_PG_URL", "a PostgreSQL server the walk starts"),
    (r"tgram://\.\.\.\s*", "", "no Telegram from here"),
    (r"json://host/hook", "json://127.0.0.1:$WALK_HOOK_PORT/hook", "a local webhook receiver"),
    (r"<mlflow run id>", "$(walk_last_sweep_run)", "the MLflow run id the last sweep printed"),
]


# Commands whose README line documents a refusal as one of their outcomes: (pattern over the
# command, the exit code, what the output must then say, why). Any other exit code fails.
DOCUMENTED_REFUSALS: list[tuple[str, int, str, str]] = [
    (
        r"^grekko promote (?!.*promote=)",
        1,
        r"gate\(s\) failed",
        "promote refuses a sweep whose default gates fail, naming them",
    ),
]


@dataclass(frozen=True)
class Command:
    """One command of the README: its section, its first line number and its text."""

    section: str
    line: int
    text: str

    @property
    def kind(self) -> str:
        """How the walk runs it: ``fg`` (must exit 0), ``bg`` (a trailing ``&``), ``sim``,
        ``api``, ``alerts`` or ``live`` (a run on a real-time feed, stopped with Ctrl-C)."""
        words = shlex.split(self.body, comments=False)
        program = next((w for w in words if "=" not in w), "")
        rest = self.body[self.body.find(program) :] if program else ""
        if program != "grekko-live":
            return "bg" if self.background else "fg"
        if rest.startswith("grekko-live sim"):
            return "sim"
        if rest.startswith("grekko-live api"):
            return "api"
        if rest.startswith("grekko-live alerts"):
            return "alerts"
        venue = re.search(r"--venue[ =](\S+)", rest)
        if rest.startswith("grekko-live run") and venue and venue.group(1) != "paper":
            return "live"  # on a real-time feed: runs until stopped
        return "bg" if self.background else "fg"

    @property
    def background(self) -> bool:
        """Whether the README starts it with a trailing ``&``."""
        return self.text.rstrip().endswith("&") and not self.text.rstrip().endswith("&&")

    @property
    def body(self) -> str:
        """The command without a trailing ``&``."""
        return self.text.rstrip()[:-1].rstrip() if self.background else self.text


def _sections(text: str, names: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """``{heading: (first line number, body)}`` of the ``## `` sections named in ``names``."""
    found: dict[str, tuple[int, str]] = {}
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")]
    for k, start in enumerate(starts):
        title = lines[start][3:].strip()
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        if title in names:
            found[title] = (start + 1, "\n".join(lines[start:end]))
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"README has no section(s) {missing}; sections: "
                         f"{[lines[s][3:].strip() for s in starts]}")  # fmt: skip
    return found


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` outside quotes, after a blank)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(readme: Path, sections: tuple[str, ...]) -> list[Command]:
    """The shell commands of ``sections`` of ``readme``, in order of appearance."""
    text = readme.read_text()
    out: list[Command] = []
    for title in sections:
        first, body = _sections(text, sections)[title]
        in_block, pending, pending_line, depth = False, "", 0, 0
        for offset, raw in enumerate(body.splitlines()):
            lineno = first + offset
            if raw.strip().startswith("```"):
                in_block = raw.strip() == "```bash" if not in_block else False
                continue
            if not in_block:
                continue
            line = _strip_comment(raw)
            if not line.strip() and not pending:
                continue
            if not pending:
                pending_line = lineno
            cont = line.endswith("\\")
            pending += (line[:-1] if cont else line).strip() + (" " if cont else "\n")
            words = re.findall(r"[\w-]+", line)
            depth += sum(w in ("for", "while", "until", "if") for w in words[:1] + words[1:2])
            depth -= sum(w in ("done", "fi") for w in words)
            if not cont and depth <= 0:
                out.append(Command(title, pending_line, pending.strip()))
                pending, depth = "", 0
        if pending.strip():
            raise ValueError(f"README line {pending_line}: unterminated command {pending!r}")
    return out


def _substitute(text: str) -> str:
    for pattern, replacement, _why in SUBSTITUTIONS:
        text = re.sub(pattern, lambda _m, r=replacement: r, text)
    return text


_PRELUDE = r"""
set -uo pipefail
# Job control: each background command gets its own process group and, as in a terminal,
# keeps SIGINT (a non-interactive shell would start it with SIGINT ignored).
set -m
walk_fail() { echo "WALK FAILED at step $1 (README line $2): $3" >&2; exit 1; }
walk_wait_port() {  # port seconds
    for _ in $(seq 1 $(( $2 * 10 ))); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1
    done; return 1
}
walk_last_sweep_run() {
    grep -ho 'MLflow run [0-9a-f]\{32\}' "$WALK_LOGS"/*sweep*.log | tail -1 | awk '{print $3}'
}
walk_port_of() {  # the --port of a command line, else $2
    local p; p=$(sed -n 's/.*--port[ =]\([0-9]\+\).*/\1/p' <<<"$1"); echo "${p:-$2}"
}
walk_stop() {  # Ctrl-C to a background command's process group, as a terminal sends it
    kill -INT -- "-$1" 2>/dev/null; true
}
WALK_BG=()
trap 'for p in "${WALK_BG[@]:-}"; do [ -n "$p" ] && kill -TERM -- "-$p" 2>/dev/null; done' EXIT
"""


def walk_script(commands: list[Command], *, live_seconds: float = 25.0) -> str:
    """One bash script running ``commands`` in order; logs go to ``$WALK_LOGS``."""
    parts = [_PRELUDE, "# substitutions:"]
    parts += [f"#   {p!r} -> {r!r}: {why}" for p, r, why in SUBSTITUTIONS]
    parts += ["# documented refusals (exit code and message accepted):"]
    parts += [f"#   {p!r}: exit {c}, {m!r}: {why}" for p, c, m, why in DOCUMENTED_REFUSALS]
    for n, cmd in enumerate(commands, 1):
        text = _substitute(cmd.body)
        program = re.sub(r"[^a-z0-9]+", "-", " ".join(text.split()[:3]).lower())[:40]
        log = f'"$WALK_LOGS/{n:03d}-{program}.log"'
        where = f"{n} {cmd.line}"
        banner = f"echo {shlex.quote(f'### {n} (README line {cmd.line}): {cmd.text}')}"
        parts.append(banner)
        if cmd.kind == "fg":
            refusal = next((r for r in DOCUMENTED_REFUSALS if re.search(r[0], cmd.text)), None)
            allowed = (
                f"{{ [ $WALK_RC -eq {refusal[1]} ] && grep -Eq {shlex.quote(refusal[2])} {log}; }} || "
                if refusal
                else ""
            )
            parts.append(
                f"{{ {text}\n}} > {log} 2>&1 </dev/null; WALK_RC=$?\n"
                f"[ $WALK_RC -eq 0 ] || {allowed}"
                f'{{ tail -40 {log}; walk_fail {where} "exit $WALK_RC"; }}'
            )
            continue
        port = {"sim": "8765", "api": "8000"}.get(cmd.kind, "")
        parts.append(f"( {text}\n) > {log} 2>&1 </dev/null &")
        parts.append("WALK_PID=$!; WALK_BG+=($WALK_PID)")
        if cmd.kind in ("sim", "api"):
            parts.append(
                f"WALK_PORT=$(walk_port_of {shlex.quote(text)} {port})\n"
                f"walk_wait_port $WALK_PORT 90 || {{ tail -40 {log}; "
                f'walk_fail {where} "nothing listens on $WALK_PORT"; }}'
            )
        if cmd.kind == "api":
            parts.append(
                'curl -fsS -H "Authorization: Bearer $GREKKO_API_READ_TOKEN" '
                f"http://127.0.0.1:$WALK_PORT/positions > {log}.positions && "
                f"curl -fsS http://127.0.0.1:$WALK_PORT/docs > {log}.docs || "
                f'{{ tail -40 {log}; walk_fail {where} "/positions or /docs did not answer"; }}'
            )
            parts.append("walk_stop $WALK_PID; wait $WALK_PID")
        if cmd.kind == "alerts":
            parts.append(
                f"sleep 4; kill -0 $WALK_PID 2>/dev/null || {{ tail -40 {log}; "
                f'walk_fail {where} "the alert follower stopped by itself"; }}'
            )
            parts.append("walk_stop $WALK_PID; wait $WALK_PID")
        if cmd.kind == "live":
            parts.append(
                f"sleep {live_seconds}; kill -0 $WALK_PID 2>/dev/null || {{ tail -40 {log}; "
                f'walk_fail {where} "the live run stopped by itself"; }}'
            )
            parts.append(
                "walk_stop $WALK_PID; wait $WALK_PID; WALK_RC=$?; "
                f'[ $WALK_RC -eq 0 ] || {{ tail -40 {log}; walk_fail {where} "exit $WALK_RC after Ctrl-C"; }}'
            )
    parts.append('echo "WALK OK"')
    return "\n".join(parts) + "\n"


def _stamp_name(pyproject: Path) -> str:
    """The Makefile's install stamp: ``.installed-`` + the first 16 hex of sha256(pyproject)."""
    return ".installed-" + hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16]


def prepare_clone(dest: Path) -> Path:
    """Clone this checkout into ``dest/grekko`` (with its uncommitted edits) and equip a venv.

    Tracked files that differ from HEAD and untracked, unignored files are copied over the
    clone, so a developer walks what they are about to commit; in CI the clone equals HEAD.
    """
    clone = dest / "grekko"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    listed = subprocess.run(
        ["git", "ls-files", "-m", "-o", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        src, dst = REPO / name, clone / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
            dst.chmod(src.stat().st_mode)
        elif dst.exists():
            dst.unlink()  # deleted in the work tree
    base = getattr(sys, "_base_executable", sys.executable)
    venv = clone / ".venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)  # with pip, as make makes it
    # ensurepip's own old setuptools would shadow the project's (dev extras: setuptools>=77)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "uninstall", "--quiet", "-y", "setuptools"],
        check=True,
    )
    purelib = Path(sysconfig.get_paths()["purelib"])
    site = next((venv / "lib").glob("python3*/site-packages"))
    # A plain path line: this environment's packages, without its own editable install of
    # the checkout (whose finder is a .pth there, not processed when reached this way).
    (site / "zz-grekko-walk-deps.pth").write_text(f"{purelib}\n")
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "-e", str(clone)],
        check=True, cwd=clone, env={**os.environ, "PIP_NO_INDEX": "1"},
    )  # fmt: skip
    (venv / _stamp_name(clone / "pyproject.toml")).touch()
    return clone
