"""Fetch the pinned lightweight-charts build from the npm registry and check it.

Run from anywhere: `python canvas/web/static/vendor/fetch_vendor.py` (stdlib only). It downloads
the exact tarball of the pinned version, checks the tarball against npm's published integrity
(SHA-512) and the extracted files against the SHA-256 values pinned below, and writes them next
to this script. With `--check` it only verifies the files already here. Exit status 0 = match.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGE = "lightweight-charts"
VERSION = "5.2.1"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
# `npm view lightweight-charts@5.2.1 dist.integrity`
INTEGRITY = "sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ=="
# tarball member -> (file written here, its SHA-256)
FILES = {
    "package/dist/lightweight-charts.standalone.production.js": (
        "lightweight-charts.standalone.production.js",
        "e21cc5caa0226ef30bd8549c50b9ef926615f2a4ee6b4e486353477a55f598cf",
    ),
    "package/LICENSE": (
        "LICENSE-lightweight-charts",
        "70c9d5382506dd184465425c08a99ad9bd6d9ac1313c252968ba0b585e5ef823",
    ),
}
HERE = Path(__file__).resolve().parent


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_integrity(tarball: bytes) -> None:
    algo, _, digest = INTEGRITY.partition("-")
    actual = base64.b64encode(hashlib.new(algo, tarball).digest()).decode()
    if actual != digest:
        sys.exit(f"tarball integrity mismatch: {algo}-{actual}")


def fetch() -> None:
    """Download, verify and write every pinned file; exit non-zero on any mismatch."""
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        tarball = response.read()
    check_integrity(tarball)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member, (name, pinned) in FILES.items():
            extracted = tar.extractfile(member)
            if extracted is None:
                sys.exit(f"{member} missing from {TARBALL}")
            data = extracted.read()
            if sha256(data) != pinned:
                sys.exit(f"{member}: sha256 {sha256(data)} != pinned {pinned}")
            (HERE / name).write_bytes(data)
            print(f"wrote {name} ({len(data)} bytes, sha256 ok)")


def check() -> None:
    """Verify the files already in this folder against the pinned SHA-256 values."""
    for name, pinned in FILES.values():
        actual = sha256((HERE / name).read_bytes())
        if actual != pinned:
            sys.exit(f"{name}: sha256 {actual} != pinned {pinned}")
        print(f"{name}: ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the files here only")
    args = parser.parse_args()
    check() if args.check else fetch()


if __name__ == "__main__":
    main()
