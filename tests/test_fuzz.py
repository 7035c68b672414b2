"""Schemathesis against the app's own OpenAPI spec, over real HTTP to a real server of
its own: over 1,000 generated requests, valid and not, and every answer is one the spec
lists, with the body it describes, and never a 5xx. No duel runs: `/ws` is not in the
spec, so this needs the engine only to be up."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import copy_of_flows, serving

EXAMPLES = 400  # per operation; the routes without inputs need only a handful
CALLS: list[int] = []  # status codes seen, for the count at the end


@pytest.fixture(scope="module")
def fuzzed_server(offline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    with (folder / "server.log").open("w") as log, serving(copy_of_flows(folder), log, {"LOCAL_DUEL_STARTS_PER_MINUTE": "100000"}) as base:
        yield base


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    return schemathesis.openapi.from_url(f"{fuzzed_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_answer_is_in_the_spec_and_none_is_a_5xx(case):
    response = case.call_and_validate()
    CALLS.append(response.status_code)


def test_the_fuzz_was_big_enough_and_met_no_server_error():
    assert len(CALLS) >= 1000, f"only {len(CALLS)} requests"
    assert not [code for code in CALLS if code >= 500]
