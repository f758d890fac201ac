# Declares canardstack to DuckDB's extension build system (and the
# community-extensions repository). The extension is a Rust crate built with
# cargo; this file only names it and where it lives.
duckdb_extension_load(canardstack
    SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
    LOAD_TESTS
)
