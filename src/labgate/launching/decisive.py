"""The decisive lines of what a failed program printed: the last lines that look like
an error, which a failure's summary quotes so that "exited with status 1" is never all
a user is told."""

from __future__ import annotations

import re

#: At most this many lines are quoted, each cut to ``LINE_CHARS`` characters.
MAX_LINES = 3
LINE_CHARS = 300

# ANSI escape sequences (colours, cursor moves) and other control characters.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What an error line says, in the words programs use: a Python exception's last line
# ("ValueError: ..."), "error:", "fatal", "not found", "refused", "denied"...
_ERROR = re.compile(
    r"(?:\b[A-Z]\w*(?:Error|Exception)\b"
    r"|\berrors?\b|\bfatal\b|\bcritical\b|\bpanic\b"
    r"|not found|no such file|\bcannot\b|can't|could not|couldn't|unable to|\bfailed\b"
    r"|refused|denied|not recommended|not allowed|not permitted|\binvalid\b|unrecognized"
    r"|\bkilled\b|\baborted\b|segmentation fault|out of memory)",
    re.IGNORECASE,
)
# A log line's level when it is an error: Jupyter's "[E 2024-...]" and "[C ...]",
# glog's "E0102 ..." and "F0102 ...".
_ERROR_LEVEL = re.compile(r"^(?:\[[EC] \d|[EF]\d{4} \d)")
# Lines that say one of the words above without reporting a failure (TensorBoard
# prints the last one at every start).
_NOT_AN_ERROR = re.compile(
    r"\b(?:0 errors?|no errors?|without errors?)\b"
    r"|installation not found - running with reduced feature set",
    re.IGNORECASE,
)
# A level said in words before a message ("ERROR: ..."), left out when lines are
# compared: glog prints each message once with its prefix and once with such a level.
_LEVEL_WORD = re.compile(r"^(?:error|fatal|critical)\s*:\s*", re.IGNORECASE)
# A log line's prefix with its time ("[C 2024-05-01 12:00:00.000 ServerApp] ",
# "E0501 12:00:00.000 123 program.py:300] "), left out of a quote: the message is what
# a person reads, and lines repeated with a new time are one.
_LOG_PREFIX = re.compile(r"^(?:\[[^\]\n]*\d:\d\d[^\]\n]*\]|[IWEF]\d{4} [\d:.]+\s+\d+ \S+\])\s*")
# A Python traceback's head; its frames and source lines (indented) follow, and its
# last line, the exception, is what counts.
_TRACEBACK = "Traceback (most recent call last):"


def plain_lines(text: str) -> list[str]:
    """``text``'s non-blank lines without ANSI codes, control characters and trailing
    blanks; of a line redrawn with carriage returns (a progress bar), what was drawn
    last."""
    lines = []
    for raw in _ANSI.sub("", text).split("\n"):
        line = _CONTROL.sub("", raw.rstrip("\r").rsplit("\r", 1)[-1]).rstrip()
        if line.strip():
            lines.append(line)
    return lines


def _without_tracebacks(lines: list[str]) -> list[str]:
    """``lines`` less every traceback's head, frames and source lines (which name the
    code, not the failure): each traceback's last line, the exception, stays."""
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.lstrip().startswith(_TRACEBACK):
            inside = True
        elif not (inside and line[:1].isspace()):
            inside = False
            kept.append(line)
    return kept


def _looks_like_error(line: str) -> bool:
    if _ERROR_LEVEL.match(line):
        return True
    return bool(_ERROR.search(line)) and not _NOT_AN_ERROR.search(line)


def _quoted(line: str) -> str:
    line = _LOG_PREFIX.sub("", line.strip())
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def decisive_lines(output: str, limit: int = MAX_LINES) -> list[str]:
    """The last (at most ``limit``) error-looking lines of ``output``, oldest first,
    without their log prefixes and each once; the last line printed when none looks
    like an error; nothing for no output."""
    lines = _without_tracebacks(plain_lines(output))
    errors = [line for line in lines if _looks_like_error(line)]
    quoted: list[str] = []
    seen: set[str] = set()
    for line in reversed(errors or lines[-1:]):
        text = _quoted(line)
        same = _LEVEL_WORD.sub("", text)
        if text and same not in seen:
            seen.add(same)
            quoted.append(text)
        if len(quoted) == limit:
            break
    return quoted[::-1]
