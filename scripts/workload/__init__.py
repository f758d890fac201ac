"""Synthetic OpenTelemetry traffic: `otlp` builds OTLP/protobuf requests (the ingest
benchmark's bodies in scripts/bench/signals.py are made with it too), `shop` simulates
a small web shop of services calling each other, `sender` posts its exports to an OTLP/HTTP
endpoint. `python scripts/workload --help` runs it against any canardstack."""
