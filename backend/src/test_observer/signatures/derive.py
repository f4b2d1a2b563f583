"""Deriving a failure signature from a failed result's output.

A signature is the hash of a few lines of the output, normalised. Two steps:

1. **Select** the lines that say what failed. The strongest recognisable marker wins, in this
   order: a kernel oops or warning (its headline and the function it stopped in); an exception
   (Python or Java: the last exception line and the frame that raised it; a Java `Caused by:`
   counts as the exception); pytest's `E` lines; Go's `file.go:N:` failure messages; a line
   that says it failed or errored (with the shell command traced just before it, for
   `set -x` output). Without any marker, the last non-empty lines.
2. **Normalise** what differs between two occurrences of one cause: dates and times, UUIDs,
   MAC and IP addresses, hexadecimal values, device and interface names, temporary names,
   the directories of paths (the file name stays), and every remaining number.

Test names are deliberately left out: one cause breaks many test cases, and the signature is
meant to group them. The function is pure and deterministic; `SIGNATURE_VERSION` changes
whenever the rules do, so that stored signatures can be recomputed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

SIGNATURE_VERSION = 1

# How much of the output is read, from its end: the failure is almost always near the end, and
# a bound keeps the cost per result fixed however long the log.
_TAIL_CHARS = 64 * 1024
# How many lines a selection keeps at most, and how long each may be.
_MAX_LINES = 4
_MAX_LINE_CHARS = 300
_EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class Signature:
    hash: str
    text: str
    excerpt: str
    version: int = SIGNATURE_VERSION


# Applied to the whole output at once (one pass in C rather than one call per line).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_KERNEL_PREFIX = re.compile(r"^[ \t]*(?:<\d>)?\[[ \t]*\d+\.\d+\][ \t]*", re.MULTILINE)
_SYSLOG_PREFIX = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ [\w.\-/]+(?:\[\d+\])?: ",
    re.MULTILINE,
)

# The lookahead names the first letters of the alternatives: the regex engine then skips, in C,
# the positions no alternative can start at, instead of trying each.
_KERNEL_HEAD = re.compile(
    r"(?=[BOkWgKUuI])\b(BUG: |Oops: |Oops\b|kernel BUG at|WARNING: CPU:|WARNING: .* at |"
    r"general protection fault|"
    r"Kernel panic|Unable to handle kernel|unable to handle page fault|INFO: task .* blocked|"
    r"UBSAN:|KASAN:)"
)
_KERNEL_RIP = re.compile(r"^\s*(?:RIP|pc|PC is at|EIP|NIP)\s*:?\s*(?:\S+:)?\s*(\S+)")
_PY_EXCEPTION = re.compile(
    r"^\s*(?:E\s+)?(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Exit|Failure|Interrupt|"
    r"Timeout|Warning|NotFound|Refused)(?::|$)"
)
_JAVA_EXCEPTION = re.compile(
    r"^\s*(?:Caused by:\s*)?(?:[a-z_][\w$]*\.)+[A-Z][\w$]*(?:Error|Exception|Failure|Throwable)"
    r"\b(?::|$)"
)
# Whether a rule can apply at all: substrings first (fast), then a search over the whole
# output (one pass in C), before any line is looked at.
_KERNEL_HINTS = (
    "BUG",
    "Oops",
    "WARNING",
    "general protection",
    "Kernel panic",
    "nable to handle",
    "INFO: task",
    "UBSAN",
    "KASAN",
)
_EXCEPTION_HINTS = ("Exception", "Error", "Failure", "Throwable")
_PYTHON_HINTS = (
    *_EXCEPTION_HINTS,
    "Exit",
    "Interrupt",
    "Timeout",
    "Warning",
    "NotFound",
    "Refused",
)
_JAVA_ANYWHERE = re.compile(_JAVA_EXCEPTION.pattern, re.MULTILINE)
_PYTHON_ANYWHERE = re.compile(f"(?:{_PY_EXCEPTION.pattern})|^E\\s{{2,}}", re.MULTILINE)
_JAVA_CAUSED = re.compile(r"^\s*Caused by:")
_JAVA_FRAME = re.compile(r"^\s*at\s+([\w$.<>]+)\(")
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)')
_PYTEST_E = re.compile(r"^E\s{2,}(.*\S)")
_PYTEST_LOCATION = re.compile(r"^(\S+\.py):\d+: (\w+)$")
_GO_MESSAGE = re.compile(r"^\s+(\w+\.go):\d+: (.*\S)")
_GO_PANIC = re.compile(r"^panic: (.*)")
_SHELL_TRACE = re.compile(r"^\++ ")


class _Words:
    """Words looked for in a line, case-insensitively: `stems` (one of which any match holds,
    casefolded) rule most lines out before the regular expression is tried."""

    def __init__(self, words: str, stems: tuple[str, ...]) -> None:
        self._pattern = re.compile(rf"(?i)\b({words})\b")
        self._stems = stems

    def search(self, line: str) -> bool:
        folded = line.casefold()
        return any(stem in folded for stem in self._stems) and bool(self._pattern.search(line))


# Words that say why something failed, then words that only say that it did.
_REASON_WORDS = _Words(
    "error|errors|fatal|cannot|can't|could not|couldn't|unable|not found|no such|denied|"
    "timed out|refused|panic|abort(?:ed)?|segmentation fault|not ready|unreachable",
    (
        *("error", "fatal", "cannot", "can't", "could", "unable", "not found", "no such"),
        *("denied", "timed out", "refused", "panic", "abort", "segmentation", "not ready"),
        "unreachable",
    ),
)
_FAILURE_WORDS = _Words(
    "fail|failed|failure|timeout|mismatch|unexpected|invalid|missing|expected",
    ("fail", "timeout", "mismatch", "expected", "invalid", "missing"),
)
# How far back from the end a reason is looked for before settling for a bare failure word.
_REASON_WINDOW = 15
_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$")
# Lines that say a step failed without saying why: skipped when looking for the reason. Every
# alternative is anchored at the start: used with `match`, which tries no other position.
_BARE_VERDICT = re.compile(
    r"(?i)^\s*(?:-+\s*)?(?:FAIL(?:ED)?|ERROR|FAILURE)S?\s*[:!]?\s*(?:\S+\s*)?(?:\(\S+\))?\s*$|"
    r"^\s*(?:FAIL|ok)\s+\S+\s+[\d.]+s\s*$|^\s*exit (?:code|status)\s*:?\s*\d+\s*$|"
    r"^\s*Ran \d+ tests? in|^\s*FAILED \(|^=+|^-+$|^\s*\[(?:failure|error)\]\s*$|"
    r"^\s*Outcome: |^\s*\d+ failed, \d+ passed"
)


def _text(io_log: str, comment: str) -> str:
    text = io_log[-_TAIL_CHARS:]
    if comment.strip():
        text = f"{text}\n{comment[-_TAIL_CHARS:]}"
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "[" in text:
        text = _KERNEL_PREFIX.sub("", text)
    return _SYSLOG_PREFIX.sub("", text)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _kernel(text: str, lines: list[str]) -> list[str] | None:
    if not any(hint in text for hint in _KERNEL_HINTS) or not _KERNEL_HEAD.search(text):
        return None
    heads = [i for i, line in enumerate(lines) if _KERNEL_HEAD.search(line)]
    if not heads:
        return None
    first = heads[0]
    selected = [lines[first]]
    for line in lines[first + 1 :]:
        match = _KERNEL_RIP.match(line)
        if match:
            selected.append(f"RIP {match.group(1)}")
            break
    return selected


def _java(text: str, lines: list[str]) -> list[str] | None:
    if not any(hint in text for hint in _EXCEPTION_HINTS) or not _JAVA_ANYWHERE.search(text):
        return None
    exceptions = [i for i, line in enumerate(lines) if _JAVA_EXCEPTION.match(line)]
    if not exceptions:
        return None
    # The root cause is the last `Caused by:`; without one, the first exception line.
    caused = [i for i in exceptions if _JAVA_CAUSED.match(lines[i])]
    at = caused[-1] if caused else exceptions[0]
    selected = [lines[at].strip().removeprefix("Caused by:").strip()]
    for line in lines[at + 1 : at + 30]:
        frame = _JAVA_FRAME.match(line)
        if frame:
            selected.append(f"at {frame.group(1)}")
            break
    return selected


def _last(lines: list[str], pattern: re.Pattern[str]) -> int | None:
    """The index of the last line `pattern` matches at its start (read from the end, where
    the failure usually is)."""
    for i in range(len(lines) - 1, -1, -1):
        if pattern.match(lines[i]):
            return i
    return None


def _python(text: str, lines: list[str]) -> list[str] | None:
    if "E  " not in text and not any(hint in text for hint in _PYTHON_HINTS):
        return None
    if not _PYTHON_ANYWHERE.search(text):
        return None
    end = _last(lines, _PYTEST_E) if "E  " in text else None
    if end is not None:
        # The last block of pytest's E lines, and the file and exception type it names next.
        start = end
        while start > 0 and _PYTEST_E.match(lines[start - 1]) and end - start < _MAX_LINES:
            start -= 1
        selected = [_PYTEST_E.match(line).group(1) for line in lines[start : end + 1]]  # type: ignore[union-attr]
        for line in lines[end + 1 : end + 3]:
            location = _PYTEST_LOCATION.match(line)
            # Where the test itself failed is the test's own name again; a library is a cause.
            if location and not _TEST_FILE.search(location.group(1)):
                selected.append(f"{location.group(1)}: {location.group(2)}")
        return selected
    at = _last(lines, _PY_EXCEPTION)
    if at is None:
        return None
    selected = [lines[at].strip()]
    for line in reversed(lines[max(0, at - 6) : at]):
        frame = _PY_FRAME.match(line)
        if frame:
            if not _TEST_FILE.search(frame.group(1)):
                selected.insert(0, f"{frame.group(1)} in {frame.group(2)}")
            break
    return selected


def _go(text: str, lines: list[str]) -> list[str] | None:
    if "panic: " not in text and ".go:" not in text:
        return None
    for line in lines:
        panic = _GO_PANIC.match(line)
        if panic:
            return [line.strip()]
    messages = [m for line in lines if (m := _GO_MESSAGE.match(line))]
    if not messages:
        return None
    return [f"{m.group(1)}: {m.group(2)}" for m in messages[-_MAX_LINES:]][:_MAX_LINES]


def _worded_line(line: str, words: _Words) -> bool:
    # The words first: they rule out most lines.
    return words.search(line) and not _SHELL_TRACE.match(line) and not _BARE_VERDICT.match(line)


def _last_worded(lines: list[str], words: _Words, stop: int) -> int | None:
    for i in range(len(lines) - 1, stop - 1, -1):
        if _worded_line(lines[i], words):
            return i
    return None


def _worded(text: str, lines: list[str]) -> list[str] | None:
    found = _last_worded(lines, _REASON_WORDS, max(0, len(lines) - _REASON_WINDOW))
    if found is not None:
        # Of a run of lines that each give a reason, the first: the ones after it tend to be
        # consequences or details (which process, which retry) that vary more.
        while found > 0 and _worded_line(lines[found - 1], _REASON_WORDS):
            found -= 1
    else:
        found = _last_worded(lines, _FAILURE_WORDS, 0)
    if found is None:
        found = _last_worded(lines, _REASON_WORDS, 0)
    if found is None:
        return None
    selected = [lines[found].strip()]
    # The command that failed, when the output is a shell trace.
    for previous in reversed(lines[max(0, found - 4) : found]):
        if _SHELL_TRACE.match(previous):
            selected.insert(0, previous.strip())
            break
    return selected


def _last_lines(lines: list[str]) -> list[str]:
    meaningful = [line.strip() for line in lines if not _BARE_VERDICT.match(line)]
    return (meaningful or [line.strip() for line in lines])[-3:]


def select_lines(io_log: str, comment: str = "") -> list[str]:
    """The lines of the output that say what failed (raw, not yet normalised)."""
    text = _text(io_log, comment)
    lines = _lines(text)
    if not lines:
        return []
    for rule in (_kernel, _java, _python, _go, _worded):
        selected = rule(text, lines)
        if selected:
            return [line[:_MAX_LINE_CHARS] for line in selected[:_MAX_LINES]]
    return [line[:_MAX_LINE_CHARS] for line in _last_lines(lines)]


def _when_digit(replacement: str) -> Callable[[re.Match[str]], str]:
    """Replace a match only if it holds a digit (checked here rather than by a lookahead the
    regex engine would try at every position)."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        return replacement if any(c.isdigit() for c in text) else text

    return replace


def _generated(match: re.Match[str]) -> str:
    word = match.group(0)
    if len(word) >= 6 and any(c.islower() for c in word) and any(c.isupper() for c in word):
        return "<id>"
    return word


# Guards: a colon between hexadecimal digits (times, MAC and IPv6 addresses), the stems of
# device names.
_COLON = ("<colon>",)
_DEVICES = (
    *("sd", "vd", "hd", "nvme", "mmcblk", "loop", "dm-", "md", "tty", "video", "media"),
    *("hidraw", "i2c-", "spidev", "card", "controlC", "hci", "rfkill", "pci"),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# (pattern, replacement, substrings one of which a text needs for the pattern to apply,
# whether it needs a digit). The guards skip most patterns for most texts cheaply.
_Replacement = str | Callable[[re.Match[str]], str]
_RULES: list[tuple[re.Pattern[str], _Replacement, tuple[str, ...], bool]] = [
    # Dates and times, in the usual spellings.
    (
        re.compile(
            r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"
        ),
        "<date>",
        ("-",),
        True,
    ),
    (re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? "), "", _DAYS, False),
    (
        re.compile(
            r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* +\d{1,2}(?:,? \d{4})?\b"
        ),
        "<date>",
        _MONTHS,
        True,
    ),
    (re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b"), "<mac>", _COLON, False),
    (re.compile(r"\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?: ?[AP]M)?\b"), "<time>", _COLON, True),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
        ("-",),
        False,
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/\d+)?\b"), "<ip>", (".",), True),
    (
        re.compile(
            r"\[?\b(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6}\b)?"
            r"\]?(?::\d+)?|\[?\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b\]?(?::\d+)?"
        ),
        _when_digit("<ip>"),
        _COLON,
        True,
    ),
    # Temporary names: mktemp, Python's tempfile, pytest's tmp_path, systemd's private dirs.
    (re.compile(r"\btmp[._]?[A-Za-z0-9_]{6,}\b"), "<tmp>", ("tmp",), False),
    (re.compile(r"\bpytest-of-[\w.-]+/pytest-\d+/[\w.-]+"), "<tmp>", ("pytest-of-",), False),
    (re.compile(r"\bsystemd-private-[0-9a-f]+-[\w.@-]+"), "<tmp>", ("systemd-private-",), False),
    # Paths: the directories vary (home, virtualenv, snap revision, build or temporary dir);
    # the file name stays.
    (
        re.compile(r"(?<![\w/])(?:~|\.{1,2})?/?(?:[\w.@+<>-]+/)+(?=[\w.@+<-])"),
        "<path>/",
        ("/",),
        False,
    ),
    # Devices and network interfaces: which one a machine has is not the cause.
    (
        re.compile(
            r"\b(?:sd[a-z]{1,2}|vd[a-z]|xvd[a-z]|hd[a-z])\d*\b|\bnvme\d+(?:n\d+)?(?:p\d+)?\b|"
            r"\bmmcblk\d+(?:p\d+|boot\d+)?\b|\bloop\d+(?:p\d+)?\b|\bdm-\d+\b|\bmd\d+\b|"
            r"\btty(?:S|USB|ACM|AMA)\d+\b|\b(?:video|media|hidraw|i2c-|spidev|card|controlC)\d+[.\d]*\b|"
            r"\bhci\d+\b|\brfkill\d+\b|\bpci\d{4}:\d\d\b"
        ),
        "<dev>",
        _DEVICES,
        False,
    ),
    # PCI addresses, apart from the names above so that those are looked for only in texts
    # that hold one of their stems (a colon is in most texts; no match of one overlaps one of
    # the other, so two passes replace what one did).
    (re.compile(r"\b\d{4}:[0-9a-f]{2}:[0-9a-f]{2}\.\d\b"), "<dev>", _COLON, True),
    (
        re.compile(
            r"\b(?:eth|wlan|usb|br|bond|veth|tap|tun|virbr|lxdbr|docker|wwan|can)\d+\w*\b|"
            r"\b(?:en|wl|ww)(?:o\d+|s\d+(?:f\d+)?|p\d+s\d+(?:f\d+)?(?:np\d+)?|x[0-9a-f]{12})\w*\b"
        ),
        "<iface>",
        (),
        True,
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>", ("0x",), True),
    # Long hexadecimal runs (addresses, hashes, commit ids) holding at least one digit: a
    # number like any other (all-digit runs are spelled the same way below).
    (re.compile(r"\b[0-9a-fA-F]{6,}\b"), _when_digit("<n>"), (), True),
    # Generated identifiers (key ids, random suffixes): both cases and a digit in one word.
    # (Only words of six characters or more can be one: the lookahead spares the others a call.)
    (re.compile(r"\b(?=[A-Za-z0-9]{6})[A-Za-z]*\d[A-Za-z0-9]*\b"), _generated, (), True),
    (re.compile(r"\d+"), "<n>", (), True),
    (re.compile(r"[ \t]{2,}|\t"), " ", ("  ", "\t"), False),
]


_HEX_COLON = re.compile(r"[0-9a-fA-F]:[0-9a-fA-F]")


def _guard(needs: tuple[str, ...]) -> Callable[[str], bool] | None:
    """A fast test that a text holds one of `needs` (None: no condition)."""
    if not needs:
        return None
    if needs is _COLON:
        return lambda text: "::" in text or _HEX_COLON.search(text) is not None
    if len(needs) == 1:
        needed = needs[0]
        return lambda text: needed in text
    return re.compile("|".join(map(re.escape, needs))).search  # type: ignore[return-value]


_SUBSTITUTIONS = [
    (pattern, replacement, _guard(needs), digits) for pattern, replacement, needs, digits in _RULES
]

# Numbers that name the failure rather than vary with it: HTTP status codes.
_KEPT_NUMBERS = re.compile(
    r"(?:<Response \[|\bstatus(?:[ _]code)?[ =:]+|\bHTTP/\d(?:\.\d)? |returned error: )"
    r"([1-5]\d\d)\b"
)
_KEPT_HINTS = ("Response [", "status", "HTTP/", "returned error: ")
_DIGIT_WORDS = str.maketrans("0123456789", "ZOTRFVSXEN")
_WORD_DIGITS = str.maketrans("ZOTRFVSXEN", "0123456789")
_KEPT = re.compile("\x00([A-Z]+)\x00")
_DIGIT = re.compile(r"\d")


def normalise(text: str) -> str:
    """Selected lines with what varies between occurrences of one cause replaced."""
    # Kept numbers are spelled with letters while the rules run, then restored.
    kept = any(hint in text for hint in _KEPT_HINTS)
    if kept:
        text = _KEPT_NUMBERS.sub(
            lambda m: (
                m.group(0)[: m.start(1) - m.start(0)]
                + "\x00"
                + m.group(1).translate(_DIGIT_WORDS)
                + "\x00"
            ),
            text,
        )
    for pattern, replacement, needs, digits in _SUBSTITUTIONS:
        if needs is not None and not needs(text):
            continue
        if digits and not _DIGIT.search(text):
            continue
        text = pattern.sub(replacement, text)
    if kept:
        text = _KEPT.sub(lambda m: m.group(1).translate(_WORD_DIGITS), text)
    return text.strip()


@lru_cache(maxsize=4096)
def _normalised(selected: str) -> tuple[str, str]:
    """The normalised text of selected lines and its hash. Remembered: failures of one cause
    often print the very same lines (in one upload and across uploads), and then only the
    first is normalised; whatever is remembered, the result is the same."""
    # The selected lines are normalised together: one pass per rule, not one per line.
    normalised = (
        "\n".join(line.strip() for line in normalise(selected).split("\n")) or "<no output>"
    )
    return normalised, hashlib.sha256(f"{SIGNATURE_VERSION}\n{normalised}".encode()).hexdigest()


def derive(io_log: str, comment: str = "") -> Signature:
    """The signature of a failed result, from its output and comment."""
    selected = "\n".join(select_lines(io_log, comment))
    normalised, digest = _normalised(selected)
    return Signature(hash=digest, text=normalised, excerpt=selected[:_EXCERPT_CHARS])
