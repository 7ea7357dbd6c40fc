"""GET /v1/codes/{system}?q=&on=&limit=: the codes of ICD-10-CM, HCPCS Level II, modifiers or place of service
valid on a date, by code prefix or words of the description, on the shipped baseline reference data."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app


@pytest.fixture()
def search(store):
    """GET /v1/codes/{system} with a compliance key (any role may search): the response."""
    key = store.create_key("compliance", label="test search")[1]
    with TestClient(create_app(store=store)) as client:
        yield lambda system, **params: client.get(f"/v1/codes/{system}", params=params, headers={"X-API-Key": key})


def codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [found["code"] for found in response.json()["codes"]]


def test_icd10cm_by_code_prefix_with_a_dot_gives_the_header_first_then_its_codes(search):
    response = search("icd10cm", q="E11.1", on="2026-11-01")

    assert codes(response) == ["E11.1", "E11.10", "E11.11"]
    assert [found["billable"] for found in response.json()["codes"]] == [False, True, True]
    assert (response.json()["fiscal_year"], response.json()["date"]) == (2027, "2026-11-01")


def test_icd10cm_by_words_needs_every_word_in_the_description(search):
    assert codes(search("icd10cm", q="type 2 diabetes ketoacidosis coma", on="2026-11-01")) == ["E11.10", "E11.11"]


def test_hcpcs_search_keeps_only_codes_valid_on_the_date(search):
    # C1834 may be billed from 2022-10-01 through 2023-03-31 (its ADD DT and TERM DT)
    assert codes(search("hcpcs", q="C183", on="2023-01-01")) == ["C1830", "C1831", "C1832", "C1833", "C1834", "C1839"]
    assert codes(search("hcpcs", q="C183", on="2024-01-01")) == ["C1830", "C1831", "C1832", "C1833", "C1839"]


def test_modifiers_by_words_and_cpt_modifiers_by_number(search):
    assert codes(search("modifier", q="dressing wounds", on="2026-11-01")) == ["A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9"]
    assert codes(search("modifier", q="5", on="2026-11-01", limit=4)) == ["50", "51", "52", "53"]


def test_place_of_service_by_word(search):
    assert codes(search("pos", q="telehealth", on="2026-11-01")) == ["02", "10"]
    assert codes(search("pos", q="11", on="2026-11-01")) == ["11"]


def test_limit_bounds_the_answer(search):
    assert len(codes(search("hcpcs", q="injection", on="2026-11-01", limit=7))) == 7


@pytest.mark.parametrize("system, params, field", [
    ("hcpcs", {"q": "taxi", "limit": 51}, "limit"),
    ("hcpcs", {"q": "taxi", "limit": 0}, "limit"),
    ("hcpcs", {"q": ""}, "q"),
    ("hcpcs", {"q": "<script>"}, "q"),
    ("hcpcs", {"q": "..."}, "q"),
    ("hcpcs", {"q": "/"}, "q"),
    ("hcpcs", {"q": "taxi", "on": "2026-13-01"}, "on"),
    ("cpt", {"q": "99213"}, "system"),
    ("icd10pcs", {"q": "0SR"}, "system"),
])
def test_a_bad_search_is_a_422_problem_naming_its_field(search, system, params, field):
    response = search(system, **params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/invalid-request"
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_search_needs_a_key_once_keys_exist(store):
    store.create_key("coder", label="someone")
    with TestClient(create_app(store=store)) as client:
        assert client.get("/v1/codes/hcpcs", params={"q": "taxi"}).status_code == 401
