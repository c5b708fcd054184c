"""The deployment files, checked without a Docker engine or a cloud account.

The compose stack (`deploy/compose.yaml`), the image (`Dockerfile`, `.dockerignore`) and the
Terraform for the artifact bucket (`deploy/terraform`) are read as data: what can go wrong
between them (a variable missing from `.env.example`, a volume never declared, a health check
probing the wrong port, a lifecycle rule that deletes live artifacts) is asserted here.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from importlib import resources
from importlib.metadata import PackageNotFoundError, entry_points, packages_distributions, requires
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hcl2
import jsonschema
import pytest
import yaml
from check_jsonschema import builtin_schemas
from hcl2 import SerializationOptions
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_FILES = (COMPOSE, DEPLOY / "compose.gcs.yaml")
TERRAFORM = DEPLOY / "terraform"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)


# -- compose -------------------------------------------------------------------------------------


@cache
def compose(path: Path = COMPOSE) -> dict[str, Any]:
    """The compose file as compose reads it (YAML anchors and merge keys resolved)."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def interpolate(value: Any) -> Any:
    """``value`` with every ``${VAR}`` replaced as compose would with an empty .env.

    ``${VAR:-default}`` gives the default, ``${VAR:?message}`` a ``<VAR>`` placeholder.
    """
    if isinstance(value, str):
        return VARIABLE.sub(
            lambda m: m["arg"] if m["op"] in (":-", "-") else f"<{m['name']}>", value
        )
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a list of NAME=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def is_one_shot(service: dict[str, Any]) -> bool:
    """A service that runs to completion (a migration, a CLI run), never restarted."""
    return service.get("restart") == "no"


def variables(text: str) -> set[str]:
    return {m["name"] for m in VARIABLE.finditer(text)}


def strings(value: Any) -> Iterator[str]:
    """Every string of a parsed document (its values and keys; comments are gone)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)


def compose_text(path: Path) -> str:
    """All the strings of a compose file, one per line: what compose interpolates."""
    return "\n".join(strings(yaml.safe_load(path.read_text(encoding="utf-8"))))


def env_example() -> dict[str, str]:
    entries = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            entries[name.strip()] = value.strip()
    return entries


def compose_schema() -> dict[str, Any]:
    text = (resources.files(builtin_schemas) / "vendor" / "compose-spec.json").read_text("utf-8")
    schema = json.loads(text)
    assert isinstance(schema, dict)
    return schema


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_follow_the_compose_specification(path: Path) -> None:
    """The Compose Specification's own schema accepts the file: no misspelt or misplaced key."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors


def test_compose_schema_check_catches_a_misspelt_key() -> None:
    """The schema check above is not vacuous: a typo in a service is an error."""
    document = json.loads(json.dumps(compose()))
    document["services"]["web"]["healtcheck"] = document["services"]["web"].pop("healthcheck")
    validator = jsonschema.validators.validator_for(compose_schema())(compose_schema())
    assert any("healtcheck" in e.message for e in validator.iter_errors(document))


def test_the_stack_has_every_service_of_the_deployment() -> None:
    assert set(services()) >= {
        "postgres",
        "mlflow",
        "redis",
        "migrate",
        "web",
        "stream",
        "pipeline-daemon",
        "pipeline-ui",
        "cloudbeaver",
    }


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_service_has_an_image_or_a_build(name: str) -> None:
    service = services()[name]
    assert service.get("image") or service.get("build")
    if "build" in service:  # a built image is tagged, so that every service runs the same one
        assert service.get("image")


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_long_running_service_has_a_health_check(name: str) -> None:
    """One-shot services disable the image's check explicitly; the others have their own."""
    service = services()[name]
    check = service.get("healthcheck")
    assert check, f"{name} has no healthcheck (the image's web check would apply)"
    if is_one_shot(service):
        assert check == {"disable": True}
    else:
        assert check.get("disable") is not True
        assert check["test"][0] in ("CMD", "CMD-SHELL")
        assert "interval" in check
        assert "retries" in check


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_start_order_waits_for_health_or_completion(name: str) -> None:
    """depends_on names real services, and waits until they are healthy (or have finished)."""
    all_services = services()
    for target, rule in (all_services[name].get("depends_on") or {}).items():
        assert target in all_services, f"{name} depends on unknown service {target}"
        expected = (
            "service_completed_successfully"
            if is_one_shot(all_services[target])
            else "service_healthy"
        )
        assert rule == {"condition": expected}, f"{name} -> {target}"


def test_migrations_run_once_before_everything_that_uses_the_database() -> None:
    all_services = services()
    assert command(all_services["migrate"]) == ["personamap", "db", "upgrade"]
    users = [
        name
        for name, service in all_services.items()
        if "DATABASE_URL" in environment(service) and name != "migrate"
    ]
    assert users
    graph = {n: list(s.get("depends_on") or {}) for n, s in all_services.items()}
    for name in users:
        assert _reaches(name, "migrate", graph), f"{name} may start before the migration"
    for name, service in all_services.items():
        if "migrate" in (service.get("depends_on") or {}):
            condition = service["depends_on"]["migrate"]["condition"]
            assert condition == "service_completed_successfully", name


def _reaches(start: str, goal: str, graph: dict[str, list[str]]) -> bool:
    pending, seen = list(graph.get(start, [])), set()
    while pending:
        current = pending.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            pending += graph.get(current, [])
    return False


def _mounts(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of every volume of a service, short or long syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            yield str(volume.get("source", "")), str(volume["target"])
        else:
            source, target, *_ = str(volume).split(":")
            yield source, target


def _is_path(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(compose().get("volumes") or {})
    used = set()
    for name, service in services().items():
        for source, target in _mounts(service):
            assert target.startswith("/"), f"{name}: {target}"
            if _is_path(source):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"


def _published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of every published port, interpolated."""
    ports = []
    for port in interpolate(service.get("ports") or []):
        host_ip, host_port, container_port = str(port).rsplit(":", 2)
        ports.append((host_ip, host_port, container_port))
    return ports


def test_published_ports_do_not_clash_and_only_the_api_faces_the_network() -> None:
    seen: dict[tuple[str, str], str] = {}
    for name, service in services().items():
        for host_ip, host_port, _ in _published(service):
            assert (host_ip, host_port) not in seen, f"{name} and {seen[(host_ip, host_port)]}"
            seen[(host_ip, host_port)] = name
            # Databases and UIs without a login of their own stay on loopback by default.
            assert host_ip == ("0.0.0.0" if name == "web" else "127.0.0.1"), name


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_a_health_check_probes_the_port_the_service_publishes(name: str) -> None:
    service = services()[name]
    probe = " ".join(service.get("healthcheck", {}).get("test", []))
    probed = set(re.findall(r"127\.0\.0\.1[:/](\d+)", probe))
    published = {container for _, _, container in _published(service)}
    if probed and published:
        assert probed <= published, f"{name} probes {probed}, publishes {published}"


def test_every_variable_is_documented_in_env_example_and_nothing_else_is() -> None:
    used = set().union(*(variables(compose_text(p)) for p in COMPOSE_FILES))
    documented = set(env_example())
    assert used - documented == set(), "missing from deploy/.env.example"
    assert documented - used == set(), "in deploy/.env.example but used nowhere"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_has_a_default_or_a_message_when_missing(path: Path) -> None:
    text = compose_text(path)
    bare = [m[0] for m in VARIABLE.finditer(text) if m["op"] not in (":-", ":?")]
    assert not bare, "use ${VAR:-default} or ${VAR:?message}"
    assert not re.findall(r"(?<!\$)\$[A-Za-z_]", text), "use ${VAR}, not $VAR"


def _credentials(value: str) -> Iterator[str]:
    """The password parts of URLs in ``value`` (scheme://user:password@host)."""
    for match in re.finditer(r"[a-z+]+://[^\s/@]*@", value):
        userinfo = urlsplit(match[0] + "host").netloc.rpartition("@")[0]
        if ":" in userinfo:
            yield userinfo.split(":", 1)[1]


def _required_reference(value: str) -> bool:
    match = VARIABLE.fullmatch(value)
    return match is not None and match["op"] == ":?"


def _secret_free_reference(value: str) -> bool:
    """A ${VAR} reference that is required or whose default holds nothing (empty, `[]`)."""
    match = VARIABLE.fullmatch(value)
    return match is not None and (match["op"] == ":?" or match["arg"] in ("", "[]"))


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_no_secret_is_written_in_a_compose_file(path: Path) -> None:
    """Every secret is a reference to deploy/.env: required, or optional with an empty default."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, service in (document.get("services") or {}).items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and key != "GOOGLE_APPLICATION_CREDENTIALS":
                assert _secret_free_reference(value), f"{name}: {key}"
            for password in _credentials(value):
                assert _required_reference(password), f"{name}: {key}"
        args = command(service)
        for flag, value in itertools.pairwise(args):
            if flag in ("--requirepass", "--password"):
                assert _required_reference(value), f"{name}: {flag}"
    assert "PRIVATE KEY" not in path.read_text(encoding="utf-8")


def test_env_example_holds_no_secret_values() -> None:
    for name, value in env_example().items():
        if SECRET_NAME.search(name) or name == "PERSONAMAP_ALERT_WEBHOOK_URL":
            assert value == "", f"{name} must be empty in the example"


def test_every_password_and_the_api_keys_are_required() -> None:
    """A missing password stops compose instead of starting a service without one."""
    text = compose_text(COMPOSE)
    for match in VARIABLE.finditer(text):
        if "PASSWORD" in match["name"] or match["name"] == "PERSONAMAP_API_KEYS":
            assert match["op"] == ":?", match[0]


def test_telemetry_is_off_in_every_mlflow_and_personamap_process() -> None:
    for name, service in services().items():
        image = str(service.get("image", ""))
        if image.startswith("${PERSONAMAP"):
            assert environment(service).get("MLFLOW_DISABLE_TELEMETRY") == "true", name
    mlflow = environment(services()["mlflow"])
    assert mlflow["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_mlflow_answers_the_address_its_clients_use() -> None:
    """The server's DNS-rebinding guard accepts the Host header of MLFLOW_TRACKING_URI."""
    clients = {
        environment(s)["MLFLOW_TRACKING_URI"]
        for s in services().values()
        if "MLFLOW_TRACKING_URI" in environment(s)
    }
    assert clients == {"http://mlflow:5000"}
    mlflow = services()["mlflow"]
    allowed = interpolate(environment(mlflow)["MLFLOW_SERVER_ALLOWED_HOSTS"]).split(",")
    assert any(fnmatch("mlflow:5000", pattern) for pattern in allowed)
    args = command(mlflow)
    assert args[:2] == ["mlflow", "server"]
    assert args[args.index("--port") + 1] == "5000"
    assert args[args.index("--host") + 1] == "0.0.0.0"


def test_the_stack_runs_without_a_cloud_account() -> None:
    """By default artifacts go to a local volume, and nothing asks for cloud credentials."""
    mlflow = services()["mlflow"]
    destination = interpolate(environment(mlflow)["MLFLOW_ARTIFACTS_DESTINATION"])
    assert destination.startswith("/")
    assert any(destination.startswith(target) for _, target in _mounts(mlflow))
    text = compose_text(COMPOSE)
    assert "gs://" not in interpolate(text)
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text


def test_database_urls_match_what_the_init_script_creates() -> None:
    """One database and owner per concern, with the passwords handed to PostgreSQL."""
    script = (DEPLOY / "postgres" / "init" / "10-databases.sh").read_text(encoding="utf-8")
    postgres_env = environment(services()["postgres"])
    urls = {
        "DATABASE_URL": environment(services()["web"])["DATABASE_URL"],
        "MLFLOW_BACKEND_STORE_URI": environment(services()["mlflow"])["MLFLOW_BACKEND_STORE_URI"],
    }
    for key, url in urls.items():
        parts = urlsplit(interpolate(url))
        database = parts.path.lstrip("/")
        assert (parts.hostname, parts.port) == ("postgres", 5432), key
        assert parts.username == database, f"{key}: the owner role is named after its database"
        assert f"CREATE DATABASE {database} OWNER {database};" in script
        password = variables(url).pop()
        assert postgres_env[password] == f"${{{password}:?set {password} in deploy/.env}}"
        assert f'"${{{password}:?' in script  # the script stops if it is missing


def test_the_redis_password_is_the_one_clients_use() -> None:
    redis_args = command(services()["redis"])
    server_secret = variables(redis_args[redis_args.index("--requirepass") + 1])
    url = environment(services()["stream"])["PERSONAMAP_REDIS_URL"]
    assert variables(url) == server_secret
    assert urlsplit(interpolate(url)).hostname == "redis"


def test_the_init_script_is_strict_executable_bash() -> None:
    script = DEPLOY / "postgres" / "init" / "10-databases.sh"
    assert script.stat().st_mode & 0o111
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_compose_runs_programs_that_the_image_installs() -> None:
    """Each personamap service's program comes from personamap or one of its core dependencies.

    The image installs ``pip install .`` without extras, so a program from a dev-only or
    optional package would be missing there even though it works in the dev virtualenv.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_distribution(r) for r in project["dependencies"]} | {"personamap"}
    scripts = {ep.name: ep.dist.name for ep in entry_points(group="console_scripts") if ep.dist}
    for name, service in services().items():
        if str(service.get("image", "")).startswith("${PERSONAMAP_IMAGE"):
            program = command(service)[0]
            assert program in scripts, f"{name}: {program} is not installed"
            assert _distribution(scripts[program]) in core, f"{name}: {program}"


def _distribution(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def core_distributions() -> set[str]:
    """The distributions ``pip install .`` brings: the core dependencies and theirs (no extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found: set[str] = set()
    pending = [Requirement(r) for r in project["dependencies"]]
    while pending:
        requirement = pending.pop()
        name = _normalized(requirement.name)
        if name in found:
            continue
        found.add(name)
        try:
            children = [Requirement(r) for r in requires(requirement.name) or []]
        except PackageNotFoundError:
            continue  # not installed here: its own dependencies cannot be read
        for child in children:
            wanted = {""} | requirement.extras
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in wanted):
                pending.append(child)
    return found


def module_level_imports(path: Path) -> set[str]:
    """Top-level packages a module imports when it is imported (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "personamap"}


def test_the_image_has_every_library_personamap_imports() -> None:
    """What a module imports on import comes with ``pip install .``, the image's install.

    A library that is only in the dev virtualenv (through a dev tool) would make the image fail
    at start; optional libraries (PySpark) are imported inside the functions that need them.
    """
    core = core_distributions()
    providers = packages_distributions()
    missing = {}
    for path in sorted((ROOT / "src" / "personamap").rglob("*.py")):
        for module in module_level_imports(path):
            if not {_normalized(d) for d in providers.get(module, [])} & core:
                missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not missing, "declare these in [project] dependencies of pyproject.toml"


# -- Dockerfile ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str


@cache
def dockerfile() -> tuple[Instruction, ...]:
    """The Dockerfile's instructions with continuations joined and comments dropped."""
    instructions = []
    stage = ""
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage = arguments.split(" AS ")[-1].strip() if " AS " in arguments else arguments
        instructions.append(Instruction(stage, keyword.upper(), arguments.strip()))
    return tuple(instructions)


def stages() -> list[str]:
    return [i.stage for i in dockerfile() if i.keyword == "FROM"]


def stage(name: str) -> list[Instruction]:
    return [i for i in dockerfile() if i.stage == name]


@dataclass(frozen=True)
class PipInstall:
    """One ``pip install``: what it installs and the options that change what gets installed."""

    target: str  # "." is this source tree, built from pyproject.toml
    extras: frozenset[str]
    editable: bool
    options: frozenset[str]


QUIET = {"--quiet", "-q"}  # output only


def shell_commands(line: str) -> Iterator[list[str]]:
    """The simple commands of a shell line: split at ``&&``, ``||``, ``;`` and ``|``, no comment."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            yield words
            words = []
        else:
            words.append(token)
    yield words


def pip_installs(line: str) -> list[PipInstall]:
    """The pip installs in a shell command line."""
    installs = []
    for words in shell_commands(line):
        segment = " ".join(words)
        while words and words[0].startswith("--mount="):
            words.pop(0)
        if len(words) < 2 or not words[0].endswith("pip") or words[1] != "install":
            continue
        options = [w for w in words[2:] if w not in QUIET]
        editable = "-e" in options or "--editable" in options
        options = [w for w in options if w not in ("-e", "--editable")]
        targets = [w for w in options if not w.startswith("-")]
        assert len(targets) == 1, f"one target per pip install: {segment}"
        name, _, extras = targets[0].partition("[")
        installs.append(
            PipInstall(
                target=name,
                extras=frozenset(e for e in extras.rstrip("]").split(",") if e),
                editable=editable,
                options=frozenset(w for w in options if w.startswith("-")),
            )
        )
    return installs


def makefile_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def makefile_prerequisites() -> dict[str, list[str]]:
    rules = {}
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z$()/._-]+):(?!=)([^#]*)", line)
        if match and not line.startswith("\t"):
            rules[match[1]] = match[2].split()
    return rules


def _needs(target: str, prerequisite: str, rules: dict[str, list[str]]) -> bool:
    pending, seen = [target], set()
    while pending:
        current = pending.pop()
        if current == prerequisite:
            return True
        if current not in seen:
            seen.add(current)
            pending += rules.get(current, [])
    return False


def test_the_readme_installs_through_the_makefile() -> None:
    """The README's two commands both set the virtualenv up with the Makefile's install rule."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme
    assert "make test" in readme
    rules = makefile_prerequisites()
    assert _needs("demo", "$(BIN)/.installed", rules)
    assert _needs("test", "$(BIN)/.installed", rules)
    # Any other pip install the README shows must be of this source tree as well.
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for install in pip_installs(line):
                assert install.target == "."


def test_the_image_installs_the_project_the_way_the_readme_does() -> None:
    """Same steps in the same order: upgrade pip, then pip install this source tree.

    The only differences are by design: the image installs non-editable and without the dev
    extra; both install from pyproject.toml with no option that changes the resolution.
    """
    readme_installs = [
        i for line in makefile_recipe("$(BIN)/.installed") for i in pip_installs(line)
    ]
    image_installs = [
        i for run in stage("builder") if run.keyword == "RUN" for i in pip_installs(run.arguments)
    ]
    assert [(i.target, i.options) for i in image_installs] == [
        (i.target, i.options) for i in readme_installs
    ]
    (upgrade, project) = image_installs
    assert upgrade == PipInstall("pip", frozenset(), False, frozenset({"--upgrade"}))
    assert project.target == "."
    assert not project.editable
    assert project.extras == frozenset()
    assert readme_installs[1].editable
    assert readme_installs[1].extras == {"dev"}


def test_every_extra_the_image_installs_is_a_runtime_extra_of_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime_extras = set(project.get("optional-dependencies", {})) - {"dev"}
    for run in (i for i in dockerfile() if i.keyword == "RUN"):
        for install in pip_installs(run.arguments):
            if install.target == ".":
                assert install.extras <= runtime_extras, install
                assert not install.editable
            elif install.target != "pip":  # only the MLflow server adds a package of its own
                assert run.stage == "builder-mlflow", install


def test_the_image_is_the_python_the_project_supports_and_the_readme_names() -> None:
    args = {
        i.arguments.split("=")[0]: i.arguments.split("=")[1]
        for i in dockerfile()
        if i.keyword == "ARG" and "=" in i.arguments
    }
    version = args["PYTHON_VERSION"]
    bases = {i.arguments.split(" AS ")[0] for i in dockerfile() if i.keyword == "FROM"}
    assert "python:${PYTHON_VERSION}-slim-bookworm" in bases
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))
    assert f"Python {version}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_default_target_is_a_slim_non_root_runtime_with_a_health_check() -> None:
    assert stages()[-1] == "runtime", "docker build without --target builds the last stage"
    runtime = stage("runtime")
    copies = [i.arguments for i in runtime if i.keyword == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"], "only the virtualenv is carried over"
    (health,) = [i.arguments for i in runtime if i.keyword == "HEALTHCHECK"]
    assert "/healthz" in health
    assert "PERSONAMAP_SERVE_PORT" in health
    (cmd,) = [i.arguments for i in runtime if i.keyword == "CMD"]
    assert json.loads(cmd) == ["personamap", "serve"]
    env = " ".join(i.arguments for i in runtime if i.keyword == "ENV")
    assert "PERSONAMAP_SERVE_HOST=0.0.0.0" in env
    assert "EXPOSE" in {i.keyword for i in runtime}


@pytest.mark.parametrize("name", ["runtime", "spark", "mlflow-server"])
def test_images_that_run_drop_root(name: str) -> None:
    (user,) = [i.arguments for i in stage(name) if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) > 0
    assert gid.isdigit()
    assert int(gid) > 0


def test_no_entrypoint_so_every_role_names_its_program() -> None:
    assert "ENTRYPOINT" not in {i.keyword for i in dockerfile()}


def test_telemetry_is_off_in_the_image() -> None:
    base_env = " ".join(i.arguments for i in stage("base") if i.keyword == "ENV")
    assert "MLFLOW_DISABLE_TELEMETRY=true" in base_env
    server_env = " ".join(i.arguments for i in stage("mlflow-server") if i.keyword == "ENV")
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in server_env


def test_compose_builds_stages_that_exist_from_the_repository_root() -> None:
    for name, service in services().items():
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"]).resolve() == ROOT, name
            assert build["target"] in stages(), name


def dockerignored(path: str) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` (relative, with /) out of the build context.

    The subset of Docker's rules this file uses: the last matching pattern wins, ``!`` re-includes,
    a pattern matching a folder covers everything in it, ``**`` matches any number of folders.
    """
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        glob = pattern.replace("**/", "*")  # fnmatch's * already crosses /
        if any(fnmatch(p, glob) or fnmatch(p, pattern) for p in prefixes):
            excluded = not negated
    return excluded


def test_the_build_context_holds_what_the_image_copies_and_nothing_secret() -> None:
    for copy in (i for i in dockerfile() if i.keyword == "COPY" and "--from" not in i.arguments):
        *sources, _ = copy.arguments.split()
        for source in sources:
            assert not dockerignored(source), f"{source} is ignored but copied"
            assert (ROOT / source).exists()
    assert not dockerignored("src/personamap/specs/survey.toml")
    for private in (
        ".git/config",
        ".venv/bin/python",
        ".personamap/personamap.db",
        "deploy/.env",
        ".env",
        "data/customers.csv",
        "tests/unit/test_deploy.py",
        "src/personamap/__pycache__/config.cpython-311.pyc",
    ):
        assert dockerignored(private), private


# -- Terraform -----------------------------------------------------------------------------------

HCL = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def parse_hcl(text: str) -> dict[str, Any]:
    parsed = hcl2.loads(text, serialization_options=HCL)
    assert isinstance(parsed, dict)
    return parsed


@cache
def terraform() -> dict[str, list[Any]]:
    """Every top-level block of every .tf file, by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        for key, blocks in parse_hcl(path.read_text(encoding="utf-8")).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def resources_of(kind: str, document: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    found = {}
    for block in (document or terraform()).get("resource", []):
        for resource_type, by_name in block.items():
            if resource_type == kind:
                found.update(by_name)
    return found


def _one(value: Any) -> Any:
    """A nested block as python-hcl2 gives it: a list of one mapping."""
    return value[0] if isinstance(value, list) else value


def live_deleting_rules(bucket: dict[str, Any]) -> list[str]:
    """Lifecycle rules of a bucket that could delete a live (current) object version.

    A Delete rule is safe only when conditioned on ``with_state = "ARCHIVED"`` (noncurrent
    versions only) and on the age or count of noncurrent versions.
    """
    problems = []
    for position, rule in enumerate(bucket.get("lifecycle_rule", []), start=1):
        action = _one(rule["action"])
        if action.get("type") != "Delete":
            continue
        condition = _one(rule.get("condition", [{}]))
        if condition.get("with_state") != "ARCHIVED":
            problems.append(f"rule {position}: with_state is {condition.get('with_state')!r}")
        elif not {"days_since_noncurrent_time", "num_newer_versions"} & set(condition):
            problems.append(f"rule {position}: no noncurrent age or version count")
    return problems


def test_lifecycle_rules_cannot_delete_live_objects() -> None:
    buckets = resources_of("google_storage_bucket")
    assert buckets
    for bucket in buckets.values():
        assert bucket.get("lifecycle_rule"), "noncurrent versions must expire"
        assert live_deleting_rules(bucket) == []


def test_noncurrent_versions_expire_after_a_configurable_age() -> None:
    (bucket,) = resources_of("google_storage_bucket").values()
    conditions = [_one(r["condition"]) for r in bucket["lifecycle_rule"]]
    ages = [
        c["days_since_noncurrent_time"] for c in conditions if "days_since_noncurrent_time" in c
    ]
    assert ages == ["${var.noncurrent_version_age_days}"]
    variable = _variables()["noncurrent_version_age_days"]
    assert variable["type"] == "number"
    assert variable["default"] >= 1


@pytest.mark.parametrize(
    ("condition", "safe"),
    [
        ('with_state = "ARCHIVED"\n days_since_noncurrent_time = 30', True),
        ('with_state = "ARCHIVED"\n num_newer_versions = 3', True),
        ("age = 30", False),
        ('with_state = "ANY"\n days_since_noncurrent_time = 30', False),
        ('with_state = "LIVE"\n age = 365', False),
        ("num_newer_versions = 3", False),
        ('with_state = "ARCHIVED"', False),
    ],
)
def test_the_live_object_check_tells_safe_rules_from_dangerous_ones(
    condition: str, safe: bool
) -> None:
    text = f"""
resource "google_storage_bucket" "b" {{
  name = "b"
  lifecycle_rule {{
    condition {{
      {condition}
    }}
    action {{
      type = "Delete"
    }}
  }}
}}
"""
    (bucket,) = resources_of("google_storage_bucket", parse_hcl(text)).values()
    assert (live_deleting_rules(bucket) == []) is safe


def test_the_bucket_is_versioned_with_uniform_access_and_not_public() -> None:
    (bucket,) = resources_of("google_storage_bucket").values()
    assert _one(bucket["versioning"])["enabled"] is True
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["name"] == "${var.bucket_name}"
    assert bucket["project"] == "${var.project}"
    assert bucket["location"] == "${var.region}"


def test_the_service_account_is_object_admin_on_this_bucket_only() -> None:
    (account_name,) = resources_of("google_service_account")
    (binding,) = resources_of("google_storage_bucket_iam_member").values()
    (bucket_name,) = resources_of("google_storage_bucket")
    assert binding["role"] == "roles/storage.objectAdmin"
    assert binding["bucket"] == f"${{google_storage_bucket.{bucket_name}.name}}"
    assert binding["member"] == f"serviceAccount:${{google_service_account.{account_name}.email}}"
    kinds = {kind for block in terraform().get("resource", []) for kind in block}
    assert not {k for k in kinds if k.startswith(("google_project_iam", "google_organization"))}
    assert not {"google_storage_bucket_iam_policy", "google_service_account_key"} & kinds


def _variables() -> dict[str, Any]:
    return {name: body for block in terraform()["variable"] for name, body in block.items()}


def test_terraform_takes_project_region_and_bucket_name_and_gives_uri_and_account() -> None:
    assert {"project", "region", "bucket_name", "noncurrent_version_age_days"} <= set(_variables())
    outputs = {name: body for block in terraform()["output"] for name, body in block.items()}
    assert outputs["artifact_uri"]["value"].startswith("gs://")
    assert "google_service_account" in outputs["service_account_email"]["value"]


def test_remote_state_is_explained_next_to_the_provider() -> None:
    text = (TERRAFORM / "versions.tf").read_text(encoding="utf-8")
    assert re.search(r'^\s*#\s*backend "gcs" \{', text, re.M)
    assert "backend" not in terraform()["terraform"][0], "state stays local until chosen"


def test_terraform_files_are_formatted() -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed here; `terraform fmt -check` runs where it is")
    result = subprocess.run(
        [binary, "fmt", "-check", "-diff", "-recursive", str(TERRAFORM)],
        capture_output=True,
        text=True,
        env={"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
