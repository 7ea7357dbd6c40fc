"""The Medicare Code Editor versions loaded, by the name findings give them, and which one judges a
fiscal year: version N is for FY N + 1983 (v43 = FY2026); a year with no version of its own is judged
by the newest older one (ReferenceData.mce_version_for), and a finding then says so."""
from __future__ import annotations

from scrubber.refdata.freshness import release_of
from scrubber.refdata.store import ReferenceData

FIRST_FISCAL_YEAR = 1983  # version N is for FY N + 1983


class MceReleases:
    """The loaded MCE versions' names: "MCE v43.1 (FY2026)" (a point release as the dataset names it)."""

    def __init__(self, reference: ReferenceData):
        self.reference = reference
        self.names: dict[int, str] = {}
        for dataset in reference.datasets():
            if dataset.kind == "mce":
                version = dataset.name.split(":", 1)[1]
                label = release_of(dataset).label  # "v43 (FY2026)"; the detail names a point release: v43.1
                if dataset.detail.startswith(f"v{version}."):
                    label = label.replace(f"v{version}", dataset.detail, 1)
                self.names[int(version)] = f"MCE {label}"

    def version_for(self, fiscal_year: int) -> int | None:
        """The version that judges a fiscal year (None: no MCE loaded)."""
        return self.reference.mce_version_for(fiscal_year)

    def name(self, version: int, fiscal_year: int) -> str:
        """The version's name, saying when it stands in for a fiscal year that has no version loaded."""
        name = self.names.get(version, f"MCE v{version} (FY{version + FIRST_FISCAL_YEAR})")
        if version + FIRST_FISCAL_YEAR != fiscal_year:
            name += f", standing in for FY{fiscal_year}, which has no MCE loaded"
        return name
