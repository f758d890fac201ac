#!/usr/bin/env bash
# Installs the servers the end-to-end tests run against, when missing:
# PostgreSQL (a DuckLake catalog in PostgreSQL). S3 is served by moto from the venv.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
    exit 0
fi
echo "installing PostgreSQL from Debian's packages (for the PostgreSQL-catalog DuckLake tests)"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || { echo "PostgreSQL is missing and we are not root: apt-get install postgresql" >&2; exit 1; }
    sudo_cmd="sudo"
fi
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends postgresql > /dev/null
