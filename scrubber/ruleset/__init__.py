"""The rule language: YAML rule files and payer profiles, checked and compiled to a Program."""
