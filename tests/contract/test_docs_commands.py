"""Every `test-observer` command the documentation shows is one the CLI has, and vice versa.

Commands are taken from fenced code blocks of docs/**/*.md and README.md. For each, the
subcommand path is resolved against the real CLI's `--help` output (a word that is not a
subcommand of a command group fails), and every `--option` written after it must appear in
that command's help. In the other direction, every command of the CLI and each of its options
must be in the CLI reference page.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
CLI_REFERENCE = DOCS / "reference" / "cli.md"
PROGRAM = "test-observer"

FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(\S*)")
SHELL_LANGUAGES = {"", "console", "shell-session", "shell", "bash", "sh", "text"}
PROMPTED_LANGUAGES = {"console", "shell-session"}
# Words after which `test-observer` is the command being run rather than an argument
# (`juju deploy test-observer` names a charm; `uv run test-observer` runs the CLI).
RUNNERS = {"--", "exec", "run", "sudo", "env", "time", "command"}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class DocCommand:
    where: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join((PROGRAM, *self.args))}"


def _logical_lines(lines: list[tuple[int, str]], prompted: bool) -> list[tuple[int, str]]:
    """Join backslash continuations; in console blocks keep only prompted lines."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in lines:
        line = raw.rstrip()
        if not current:
            if prompted:
                if not line.lstrip().startswith("$ "):
                    continue
                line = line.lstrip()[2:]
            elif line.lstrip().startswith("#"):
                continue
            start = number
        if line.endswith("\\"):
            current.append(line[:-1])
            continue
        current.append(line)
        out.append((start, " ".join(current)))
        current = []
    if current:
        out.append((start, " ".join(current)))
    return out


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        # An unbalanced quote (a JSON body continued on the next line): words are enough.
        return line.split()


def _is_separator(token: str) -> bool:
    """A token that ends a command; after it, a new command may start."""
    return bool(token) and all(c in "();|&$`" for c in token)


def _is_redirection(token: str) -> bool:
    # What follows `>` or `<` is a file, never a command.
    return bool(token) and all(c in "<>&" for c in token) and token not in {"&", "&&"}


def commands_in_line(line: str) -> list[tuple[str, ...]]:
    """Arguments of each `test-observer` invocation in one shell line."""
    found = []
    tokens = _tokens(line)
    for k, token in enumerate(tokens):
        if token != PROGRAM:
            continue
        j = k - 1
        while j >= 0 and tokens[j].startswith("-") and tokens[j] != "--":
            j -= 1  # options of a runner, e.g. `uv run --frozen`
        previous = tokens[j] if j >= 0 else None
        at_command_position = (
            previous is None
            or _is_separator(previous)
            or previous in RUNNERS
            or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", previous) is not None
        )
        if not at_command_position:
            continue
        args = []
        for arg in tokens[k + 1 :]:
            if _is_separator(arg) or _is_redirection(arg):
                break
            args.append(arg)
        found.append(tuple(args))
    return found


def commands_in_markdown(text: str, name: str) -> list[DocCommand]:
    commands: list[DocCommand] = []
    block: list[tuple[int, str]] | None = None
    fence = language = ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if block is None:
            if match:
                fence, language, block = match.group(1), match.group(2).lower(), []
            continue
        if match and match.group(1).startswith(fence) and not match.group(2):
            if language in SHELL_LANGUAGES:
                prompted = language in PROMPTED_LANGUAGES
                for start, logical in _logical_lines(block, prompted):
                    for args in commands_in_line(logical):
                        commands.append(DocCommand(f"{name}:{start}", args))
            block = None
            continue
        block.append((number, line))
    return commands


def documented_commands() -> list[DocCommand]:
    files = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    readme = REPO_ROOT / "README.md"
    if readme.is_file():
        files.append(readme)
    commands = []
    for path in files:
        name = path.relative_to(REPO_ROOT).as_posix()
        commands += commands_in_markdown(path.read_text(encoding="utf-8"), name)
    return commands


def cli_executable() -> str:
    beside = Path(sys.executable).with_name(PROGRAM)
    assert beside.is_file(), f"{PROGRAM} is not installed in {Path(sys.executable).parent}"
    return str(beside)


@cache
def help_for(path: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [cli_executable(), *path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def subcommands(help_text: str) -> list[str]:
    """Command names listed in a help screen (click's plain or rich's boxed layout)."""
    names: list[str] = []
    in_section = False
    for line in help_text.splitlines():
        if re.match(r"^[\s╭─┌]*Commands\b", line):
            in_section = True
            continue
        if not in_section:
            continue
        if line.startswith(("╰", "└")) or re.match(r"^[\s╭─┌]*[A-Z][A-Za-z ]+:?\s*[─]*╮?$", line):
            break
        rest = line.lstrip("│|")
        indent = len(rest) - len(rest.lstrip(" "))
        match = re.match(r"([a-z][a-z0-9_-]*)(\s{2,}|\s*[│|]?\s*$)", rest.strip())
        if match and indent <= 2:
            names.append(match.group(1))
        elif not rest.strip() and names and "│" not in line:
            break
    return names


def resolve(args: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """Split documented arguments into (subcommand path, remaining args, that command's help)."""
    path: tuple[str, ...] = ()
    rest = list(args)
    while True:
        result = help_for(path)
        assert result.returncode == 0, (
            f"`{shlex.join((PROGRAM, *path, '--help'))}` failed:\n{result.stdout}{result.stderr}"
        )
        names = subcommands(result.stdout)
        if not names or not rest or rest[0].startswith("-"):
            return path, tuple(rest), result.stdout
        assert rest[0] in names, (
            f"`{rest[0]}` is not a command of `{shlex.join((PROGRAM, *path))}` (it has {names})"
        )
        path = (*path, rest.pop(0))


COMMANDS = documented_commands()


def test_the_docs_show_cli_commands() -> None:
    # Guards the extraction: an empty list would make every other test here vacuous.
    shown = {c.args[:2] for c in COMMANDS}
    assert ("serve",) in {a[:1] for a in shown}
    assert ("db", "upgrade") in shown
    assert ("admin", "create-application") in shown


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_exists(command: DocCommand) -> None:
    path, rest, help_text = resolve(command.args)
    assert path, f"{command} names no subcommand"
    for option in OPTION.findall(" ".join(rest)):
        assert option in help_text, f"{command}: `{shlex.join((PROGRAM, *path))}` has no {option}"


def _cli_tree(path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    result = help_for(path)
    assert result.returncode == 0, result.stderr
    names = subcommands(result.stdout)
    if not names:
        return [path]
    return [leaf for name in names for leaf in _cli_tree((*path, name))]


def test_cli_reference_documents_every_command_and_option() -> None:
    reference = CLI_REFERENCE.read_text(encoding="utf-8")
    missing = []
    for path in _cli_tree():
        if f"{PROGRAM} {' '.join(path)}" not in reference and f"`{path[-1]}`" not in reference:
            missing.append(" ".join(path))
            continue
        for option in set(OPTION.findall(help_for(path).stdout)) - {"--help"}:
            if option not in reference:
                missing.append(f"{' '.join(path)} {option}")
    assert missing == [], f"not in {CLI_REFERENCE.name}: {missing}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("uv run test-observer serve --reload", [("serve", "--reload")]),
        ("uv run --frozen test-observer db upgrade head", [("db", "upgrade", "head")]),
        ("DB_URL=postgresql://x/y test-observer db current", [("db", "current")]),
        ("juju deploy test-observer --trust", []),
        ("docker run img:dev exec test-observer db upgrade", [("db", "upgrade")]),
        ("test-observer openapi > backend/schemata/openapi.json", [("openapi",)]),
        (
            "export K=$(test-observer admin create-application ci --all-permissions)",
            [("admin", "create-application", "ci", "--all-permissions")],
        ),
        ("echo test-observer-api test-observer/0", []),
        ("git clone <repository URL> test-observer", []),
        (
            "test-observer db heads | head -1; test-observer db current",
            [("db", "heads"), ("db", "current")],
        ),
    ],
)
def test_command_extraction(line: str, expected: list[tuple[str, ...]]) -> None:
    assert commands_in_line(line) == expected


def test_extraction_reads_console_prompts_and_continuations_only() -> None:
    text = (
        "```console\n$ test-observer db \\\n    heads\nbase\n```\n"
        '```json\n{"cmd": "test-observer serve"}\n```\n'
        "```shell\n# test-observer seed\ntest-observer admin add-user a@b.c\n```\n"
    )
    found = [c.args for c in commands_in_markdown(text, "x.md")]
    assert found == [("db", "heads"), ("admin", "add-user", "a@b.c")]
