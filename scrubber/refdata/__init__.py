"""Reference data: CMS code sets and edit tables, effective-dated, behind one read-only store, and their importers."""
