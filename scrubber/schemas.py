"""The machine-readable documents committed in openapi/: the API's OpenAPI document and the
JSON Schema of rule files. `python -m scrubber.schemas` rewrites them; a test fails when they drift."""
from __future__ import annotations

import json
from pathlib import Path

from scrubber.ruledef import rule_file_schema

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


def documents() -> dict[str, dict]:
    from scrubber.api import create_app

    return {"openapi.json": create_app().openapi(), "rule-file.schema.json": rule_file_schema()}


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OPENAPI_DIR.mkdir(exist_ok=True)
    for name, document in documents().items():
        (OPENAPI_DIR / name).write_text(render(document), encoding="utf-8")
        print(f"wrote openapi/{name}")


if __name__ == "__main__":
    main()
