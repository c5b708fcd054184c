"""The operations guide shows real commands: docs/operations.md against the CLI and the stack.

Every `personamap ...` command the guide shows (in code blocks and inline code), and every one the
compose stack and the image run, is run with `--help` as a user would; every option it uses must
be one that command lists. Services, volumes and settings the guide names must exist.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from personamap.config import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
COMPOSE = ROOT / "deploy" / "compose.yaml"
SEPARATORS = ("&&", "||", ";", "|", "&")
WORD = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Usage:
    """One use of the CLI: the command path (``catalog promote``) and the options given."""

    path: tuple[str, ...]
    options: frozenset[str]
    source: str


def shell_lines(markdown: str) -> Iterator[str]:
    """Command lines of the shell code blocks, continuations joined, plus inline code spans."""
    fence = r"^[ \t]*```(?:bash|sh|console|shell)\n(.*?)^[ \t]*```"
    for block in re.findall(fence, markdown, re.S | re.M):  # also indented, in list items
        yield from (line.strip() for line in block.replace("\\\n", " ").splitlines())
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", markdown):
        if re.search(r"(^|[ |])personamap ", span):
            yield span


def simple_commands(line: str) -> Iterator[list[str]]:
    """The words of each simple command of a shell line (comments dropped)."""
    lexer = shlex.shlex(line.removeprefix("$ "), posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token in SEPARATORS:
            yield words
            words = []
        else:
            words.append(token)
    yield words


def usages(words: list[str], source: str) -> Iterator[Usage]:
    """personamap invocations in a command, also behind `docker compose run ... SERVICE`.

    ``personamap`` counts as the program where it is the first word or follows a word that is
    not an option (a service or image name), so a database called personamap (`-d personamap`)
    is not taken for the CLI.
    """
    for position, word in enumerate(words):
        if word != "personamap" or (position > 0 and words[position - 1].startswith("-")):
            continue
        rest = words[position + 1 :]
        path = []
        for token in rest[:2]:
            if not WORD.fullmatch(token):
                break
            path.append(token)
        options = frozenset(t.split("=", 1)[0] for t in rest if t.startswith("--"))
        yield Usage(tuple(path), options, source)
        return


@cache
def compose() -> dict[str, object]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def guide_usages() -> list[Usage]:
    found = []
    for line in shell_lines(GUIDE.read_text(encoding="utf-8")):
        for words in simple_commands(line):
            found += usages(words, f"docs/operations.md: {line.strip()}")
    return found


def stack_usages() -> list[Usage]:
    """The personamap commands the compose services and the image's stages run."""
    found = []
    services = compose()["services"]
    assert isinstance(services, dict)
    for name, service in services.items():
        found += usages([str(w) for w in service.get("command") or []], f"compose: {name}")
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("CMD ["):
            found += usages(yaml.safe_load(line.removeprefix("CMD ")), f"Dockerfile: {line}")
    return found


def by_path(found: list[Usage]) -> dict[tuple[str, ...], list[Usage]]:
    grouped: dict[tuple[str, ...], list[Usage]] = {}
    for usage in found:
        grouped.setdefault(usage.path, []).append(usage)
    return grouped


USAGES = by_path(guide_usages() + stack_usages())


def test_the_guide_shows_the_commands_an_operator_needs() -> None:
    paths = {" ".join(p) for p in by_path(guide_usages())}
    assert paths >= {
        "api-key",
        "config",
        "db current",
        "catalog promote",
        "catalog list",
        "pipeline run",
        "assign",
        "monitor",
    }


def _help(path: tuple[str, ...], folder: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "personamap", *path, "--help"],
        cwd=folder,  # no .env of the repository is read
        env={**os.environ, "COLUMNS": "200", "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@cache
def helps() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    """`--help` of every command path, run side by side (each process imports the CLI)."""
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(os.cpu_count()) as pool:
        results = pool.map(lambda path: _help(path, folder), sorted(USAGES))
        return dict(zip(sorted(USAGES), results, strict=True))


@pytest.mark.parametrize("path", sorted(USAGES), ids=lambda p: " ".join(p) or "personamap")
def test_every_command_shown_exists_with_the_options_it_is_given(path: tuple[str, ...]) -> None:
    """`python -m personamap PATH --help` succeeds and lists every option the guide uses."""
    result = helps()[path]
    sources = "\n".join(sorted({u.source for u in USAGES[path]}))
    assert result.returncode == 0, f"{sources}\n{result.stderr}"
    listed = set(re.findall(r"--[a-z][a-z0-9-]*", result.stdout))
    for usage in USAGES[path]:
        assert usage.options <= listed, f"{usage.source}: unknown {usage.options - listed}"


def test_the_guide_names_only_services_the_stack_has() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    named = set()
    for line in shell_lines(GUIDE.read_text(encoding="utf-8")):
        for words in simple_commands(line):
            named |= compose_services(words)
    assert named, "the guide shows docker compose commands"
    assert named <= set(services), f"unknown services: {named - set(services)}"


def compose_services(words: list[str]) -> set[str]:
    """The service names a `docker compose` command line refers to."""
    if words[:2] != ["docker", "compose"]:
        return set()
    rest = words[2:]
    while rest and rest[0] == "-f":  # -f FILE before the subcommand
        rest = rest[2:]
    if not rest:
        return set()
    subcommand, arguments = rest[0], rest[1:]
    with_value = {"-e", "--env", "-u", "--user", "-w", "--workdir", "--entrypoint", "--name"}
    with_value |= {"--scale"}  # SERVICE=N, read below
    positional = []
    skip = False
    for word in arguments:
        if skip:
            skip = False
        elif word in with_value:
            skip = True
        elif not word.startswith("-"):
            positional.append(word)
    scaled = {a.split("=")[0] for a in arguments if re.fullmatch(r"[a-z-]+=\d+", a)}
    if subcommand in ("run", "exec"):
        return {positional[0]} if positional else set()
    if subcommand == "cp":
        return {p.split(":", 1)[0] for p in positional if re.match(r"[a-z-]+:/", p)}
    if subcommand in ("up", "stop", "start", "restart", "logs", "build", "ps", "pull"):
        return set(positional) | scaled
    return set()


def test_the_guide_names_only_volumes_the_stack_declares() -> None:
    """Volumes mounted by name (`-v personamap_NAME:...`, the project's prefix) are declared."""
    declared = set(compose()["volumes"])  # type: ignore[arg-type]
    assert compose()["name"] == "personamap"
    named = set()
    for line in shell_lines(GUIDE.read_text(encoding="utf-8")):
        for words in simple_commands(line):
            for flag, value in itertools.pairwise(words):
                if flag in ("-v", "--volume") and value.startswith("personamap_"):
                    named.add(value.removeprefix("personamap_").split(":")[0])
    assert named, "the guide shows how to back a volume up"
    assert named <= declared, f"unknown volumes: {named - declared}"


def test_the_configuration_reference_names_every_setting() -> None:
    """Every setting of personamap.config.Settings is in the guide's configuration reference."""
    text = GUIDE.read_text(encoding="utf-8")
    reference = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    missing = []
    for name, field in Settings.model_fields.items():
        choices = getattr(field.validation_alias, "choices", None)
        names = [c for c in choices if c.isupper()] if choices else [f"PERSONAMAP_{name.upper()}"]
        if not any(f"`{n}`" in reference for n in names):
            missing.append(names[0])
    assert not missing, "document these settings in docs/operations.md"
