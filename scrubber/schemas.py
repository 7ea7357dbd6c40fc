"""Documents generated from the code and committed: the API's OpenAPI document and the JSON Schema
of rule files (openapi/), and the field reference for rule authors (rules/FIELDS.md).
`python -m scrubber.schemas` rewrites them; a test fails when they drift."""
from __future__ import annotations

import json
from pathlib import Path

from scrubber.ruleset.fields import CATALOGUES, SCOPES
from scrubber.ruleset.model import OPERATORS, payer_file_schema, rule_file_schema
from scrubber.service.app import create_app

ROOT = Path(__file__).resolve().parent.parent


def fields_reference() -> str:
    out = ["# Fields a rule can test", "",
           "Generated from `scrubber/ruleset/fields.py` by `python -m scrubber.schemas`; do not edit by hand.", "",
           "Dates are compared as dates (`before`, `after`, `plus` days), amounts as amounts, codes as text",
           "(write codes in quotes). A test on a field that is empty on the claim is false, whichever test it",
           "is; use `present: false` to catch a missing value.", ""]
    for scope in SCOPES:
        out += [f"## {scope} rules", "", "| field | type | meaning |", "|---|---|---|"]
        for name, fld in CATALOGUES[scope].fields.items():
            if scope != "claim" and name.startswith("claim."):
                continue
            note = " (protected health information: testable, never in a message)" if fld.phi else ""
            out.append(f"| `{name}` | {fld.type} | {fld.doc}{note} |")
        if scope != "claim":
            out += ["", "Every claim field is also visible here as `claim.<field>` (e.g. `claim.submission_date`)."]
        out.append("")
    out += ["## Tests", "", "| test | meaning |", "|---|---|"]
    out += [f"| `{op}` | {words} |" for op, words in OPERATORS.items()]
    return "\n".join(out) + "\n"


def documents() -> dict[str, str]:
    return {"openapi/openapi.json": render(create_app().openapi()),
            "openapi/rule-file.schema.json": render(rule_file_schema()),
            "openapi/payer-file.schema.json": render(payer_file_schema()),
            "rules/FIELDS.md": fields_reference()}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, text in documents().items():
        (ROOT / name).parent.mkdir(exist_ok=True)
        (ROOT / name).write_text(text, encoding="utf-8")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
