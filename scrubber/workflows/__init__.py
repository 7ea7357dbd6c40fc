"""Work made of many scrubs: batch files on worker processes or Dask, what-if impact of a rule change."""
