"""X12 837P/837I: a streaming reader of interchanges into contract claim JSON."""
