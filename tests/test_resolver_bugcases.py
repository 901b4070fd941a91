"""Bug cases BR-08, BR-09 and BR-12 (shared/cases/bugcases.json) as tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from certpolicy import PolicyResolver, PolicyTable

DATA = json.loads((Path(__file__).parent / "data" / "policy" / "bugcases_policy.json").read_text())


def _queries(case_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    case = DATA[case_id]
    return list(zip(case["input"]["queries"], case["expected"]["results"], strict=True))


def _resolver(rows: list[dict[str, Any]]) -> PolicyResolver:
    return PolicyResolver(PolicyTable.from_dict({"policies": rows}))


@pytest.mark.parametrize(("query", "expected"), _queries("BR-08"), ids=lambda v: str(v.get("url", v.get("policy"))))
def test_host_targets_match_on_label_boundaries(query: dict[str, Any], expected: dict[str, Any]) -> None:
    res = _resolver(DATA["BR-08"]["input"]["policy_table"]).resolve(url=query["url"], peer_ip=query["peer_ip"])
    assert res.policy.name == expected["policy"]


@pytest.mark.parametrize(("query", "expected"), _queries("BR-09"), ids=lambda v: str(v.get("url", v.get("policy"))))
def test_cidr_targets_apply_to_the_connected_peer(query: dict[str, Any], expected: dict[str, Any]) -> None:
    res = _resolver(DATA["BR-09"]["input"]["policy_table"]).resolve(url=query["url"], peer_ip=query["peer_ip"])
    assert res.policy.name == expected["policy"]


def _br12_orders() -> list[list[str]]:
    listed = DATA["BR-12"]["input"]["row_orders_to_try"]
    names = listed[0]
    return [list(p) for p in itertools.permutations(names)] + listed


@pytest.mark.parametrize("order", _br12_orders(), ids=lambda o: ">".join(o))
def test_most_specific_override_wins_whatever_the_row_order(order: list[str]) -> None:
    rows = DATA["BR-12"]["input"]["policy_table"]
    fixed = [r for r in rows if r["kind"] != "override"]
    by_name = {r["name"]: r for r in rows if r["kind"] == "override"}
    resolver = _resolver(fixed + [by_name[n] for n in order])
    for query, expected in _queries("BR-12"):
        res = resolver.resolve(url=query["url"], peer_ip=query["peer_ip"])
        assert res.policy.name == expected["policy"], query["url"]


def test_label_boundary_also_holds_for_the_instance_wildcard() -> None:
    resolver = _resolver(DATA["BR-08"]["input"]["policy_table"])
    assert resolver.resolve("evil-service-now.com", peer_ip="203.0.113.1").policy.name == "internet"
    assert resolver.resolve("service-now.com", peer_ip="203.0.113.1").policy.name == "internet"
    assert resolver.resolve("a.b.service-now.com", peer_ip="203.0.113.1").policy.name == "instance"
