#!/usr/bin/env bash
# Runs every test suite against the release build and ends with one summary line.
# Called by `make test` after the build and the venv exist.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv
extension=build/release/canardstack.duckdb_extension
ducklake=$(cat "$venv/ducklake_extension_path")
log=$(mktemp -d)
status=0

echo "== layering"
# the leaf crates must build without DuckDB: only the extension crate links it
for crate in canardstack-spool canardstack-otlp canardstack-query canardstack-compat canardstack-derive; do
    linked=$(cargo tree -p "$crate" -e normal,build,dev --prefix none | grep -E '^(lib)?duckdb' | sort -u)
    if [ -n "$linked" ]; then
        echo "FAIL: $crate depends on $linked"
        status=1
    else
        echo "ok   $crate links no DuckDB"
    fi
done

echo "== cargo test"
# every crate of the workspace; the leaf crates' tests never load DuckDB
cargo test --release --workspace --lib 2>&1 | tee "$log/cargo"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
cargo_summary=$(grep -E '^test result:' "$log/cargo" | awk '
    { verdict = verdict == "FAILED" ? verdict : $3; sub(/\.$/, "", verdict) }
    { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^(passed|failed|ignored);?$/) count[$(i + 1)] += $i }
    END { if (NR) printf "%s. %d passed; %d failed; %d ignored (%d crates)", verdict, count["passed;"], count["failed;"], count["ignored;"], NR }')

echo "== sqllogictest"
"$venv/bin/python" scripts/sqllogictest.py --extension "$extension" --ducklake-extension "$ducklake" test/sql \
    2>&1 | tee "$log/sql"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
sql_summary=$(tail -1 "$log/sql")

echo "== promqltest"
"$venv/bin/python" scripts/promqltest --extension "$extension" --ducklake-extension "$ducklake" test/promql/*.test \
    2>&1 | tee "$log/promql"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
promql_summary=$(tail -1 "$log/promql")

echo "== pytest (end-to-end)"
CANARDSTACK_EXTENSION="$PWD/$extension" CANARDSTACK_REPOSITORY="$PWD/build/repository" \
DUCKLAKE_EXTENSION="$ducklake" "$venv/bin/python" -m pytest -q test/e2e 2>&1 | tee "$log/e2e"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
e2e_summary=$(grep -E '(passed|failed|error)' "$log/e2e" | tail -1 | tr -d '=' | sed 's/^ *//')

rm -rf "$log"
verdict=$([ "$status" -eq 0 ] && echo PASS || echo FAIL)
echo "$verdict: cargo test: ${cargo_summary:-no result}; sqllogictest: ${sql_summary:-no result}; promqltest: ${promql_summary:-no result}; e2e: ${e2e_summary:-no result}"
exit "$status"
