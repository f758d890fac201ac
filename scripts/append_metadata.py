#!/usr/bin/env python3
"""Append DuckDB's extension metadata footer to a built shared library.

DuckDB refuses to load a file without this 534-byte trailer: a 22-byte header
(magic, the ASCII tag `duckdb_signature`, a two-byte marker), eight 32-byte
NUL-padded ASCII fields, and a 256-byte signature area (zeros: unsigned). The
fields are stored in reverse order of meaning, so the list below starts with
three unused slots.
"""
import argparse
import os
import platform as host_platform
import shutil
import sys

HEADER = bytes([0x00, 0x93, 0x04, 0x10]) + b"duckdb_signature" + bytes([0x80, 0x04])
FIELD_SIZE = 32
SIGNATURE_SIZE = 256


def default_platform() -> str:
    machine = host_platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    system = {"darwin": "osx"}.get(sys.platform, "linux" if sys.platform.startswith("linux") else sys.platform)
    return f"{system}_{arch}"


def field(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > FIELD_SIZE:
        raise SystemExit(f"metadata field too long ({len(raw)} > {FIELD_SIZE} bytes): {text!r}")
    return raw.ljust(FIELD_SIZE, b"\0")


def footer(extension_version: str, duckdb_version: str, platform: str, abi_type: str) -> bytes:
    fields = ["", "", "", abi_type, extension_version, duckdb_version, platform, "4"]
    return HEADER + b"".join(field(f) for f in fields) + bytes(SIGNATURE_SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", help="the built shared library (.so)")
    parser.add_argument("output", help="where to write the .duckdb_extension")
    parser.add_argument("--extension-version", required=True)
    parser.add_argument("--duckdb-version", default="v1.5.5")
    parser.add_argument("--platform", default=default_platform())
    parser.add_argument("--abi-type", default="C_STRUCT_UNSTABLE")
    parser.add_argument("--repository", help="also lay the file out in this local extension repository")
    args = parser.parse_args()

    trailer = footer(args.extension_version, args.duckdb_version, args.platform, args.abi_type)
    assert len(trailer) == 534
    shutil.copyfile(args.library, args.output)
    with open(args.output, "ab") as out:
        out.write(trailer)
    print(f"{args.output}: {args.platform} {args.duckdb_version} {args.abi_type} {args.extension_version}")
    if args.repository:
        folder = os.path.join(args.repository, args.duckdb_version, args.platform)
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(args.output, os.path.join(folder, os.path.basename(args.output)))
        print(f"{folder}/{os.path.basename(args.output)}")


if __name__ == "__main__":
    main()
