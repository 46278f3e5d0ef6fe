#!/usr/bin/env bash
# Builds simpul's Debian package: the binary, the systemd unit, a documented config
# template and the docs, with a postinst that makes the `simpul` system user.
#
# Usage: scripts/deb.sh [--binary PATH] [--out DIR] [--fast]
#   --binary  the simpul binary to package (default: build the release binary)
#   --out     where to write simpul_<version>_<arch>.deb (default: target/debian)
#   --fast    light compression (tests package a debug binary)
#
# Built with dpkg-deb from the distribution (no packaging tool to install); the
# binary is stripped of debug information.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="" out="$root/target/debian" compress=(-Zxz)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    *) echo "deb.sh: unknown argument $1 (--binary PATH, --out DIR, --fast)" >&2; exit 2 ;;
  esac
done
if [[ -z "$binary" ]]; then
  (cd "$root" && cargo build --release --locked -p simpul-cli)
  binary="$root/target/release/simpul"
fi
[[ -x "$binary" ]] || { echo "deb.sh: $binary is not an executable" >&2; exit 2; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
src="$root/packaging/debian"

install -D -m 0755 "$binary" "$stage/usr/bin/simpul"
# Debug information stripped when binutils is there (a fresh machine may lack it).
if command -v strip >/dev/null; then strip --strip-debug "$stage/usr/bin/simpul"; fi
install -D -m 0644 "$src/simpul.service" "$stage/lib/systemd/system/simpul.service"
install -D -m 0644 "$src/simpul.toml.example" "$stage/etc/simpul/simpul.toml.example"
doc="$stage/usr/share/doc/simpul"
install -D -m 0644 "$root/README.md" "$doc/README.md"
install -D -m 0644 "$root/node-config/README.md" "$doc/node-config.md"
for f in "$root"/docs/*.md; do install -D -m 0644 "$f" "$doc/$(basename "$f")"; done
install -d "$stage/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$src/$script" "$stage/DEBIAN/$script"
done
echo /etc/simpul/simpul.toml.example > "$stage/DEBIAN/conffiles"
size="$(du -sk "$stage" | cut -f1)"
# The C library the binary needs: the newest GLIBC_ symbol version it names (read from
# the binary itself, so a build on a newer distribution asks for a newer libc6), and
# libgcc's unwinder, which Rust's panics link.
glibc="$({ grep -aoE 'GLIBC_2\.[0-9]+(\.[0-9]+)?' "$stage/usr/bin/simpul" || true; } | sed 's/GLIBC_//' | sort -uV | tail -1)"
[[ -n "$glibc" ]] || { echo "deb.sh: no GLIBC version found in $binary (a static build?)" >&2; exit 2; }
cat > "$stage/DEBIAN/control" <<CONTROL
Package: simpul
Version: $version
Architecture: $arch
Maintainer: simpul maintainers <maintainers@simpul.invalid>
Depends: libc6 (>= $glibc), libgcc-s1, passwd
Section: net
Priority: optional
Installed-Size: $size
Homepage: https://simpul.invalid
Description: sync node for Indonesia's integrated primary care (ILP) records
 Each posyandu, pustu, puskesmas and district health office runs one node. It
 holds patient and activity records as Automerge documents in a redb store and
 replicates them peer to peer over QUIC with mutual TLS, so that records written
 offline converge across the facility hierarchy without a central server.
CONTROL
mkdir -p "$out"
deb="$out/simpul_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
