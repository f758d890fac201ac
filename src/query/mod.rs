pub mod traceql;
