//! Reading Prometheus series from the DuckLake metric tables (todo).
