#!/usr/bin/env bash
# A small ILP district on this machine, offline: a posyandu and its puskesmas, each with
# its own store. Records are generated and entered at the posyandu and carried to the
# puskesmas as standard Automerge documents (the peer-to-peer sync over QUIC replaces
# this hand-carrying once the daemon lands).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building simpul (release)"
cargo build --release --quiet -p simpul-cli
simpul=$PWD/target/release/simpul
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=3273/P3273010201/3273010201-PU1/3273010201-PY01
PKM=3273/P3273010201

echo "== creating the stores of a posyandu and of its puskesmas"
$simpul --data-dir "$work/posyandu" init --path "$PY"
$simpul --data-dir "$work/puskesmas" init --path "$PKM"

echo "== generating the people of the posyandu (deterministic, seed 7)"
$simpul --data-dir "$work/posyandu" gen --seed 7 --patients 150

echo "== a kader registers a newborn and weighs her"
baby=$($simpul --data-dir "$work/posyandu" patient add --name "Putri Lestari" --sex F \
  --birth-date 2026-09-14 --nik-ibu 3273015208900003 --birth-order 1 --village 32.73.01.2001 --rt 3 --rw 2)
$simpul --data-dir "$work/posyandu" visit add "$baby" --date 2026-10-14 --weight-kg 4.1 --length-cm 53.5 \
  --head-cm 36.8 --immunisation BCG:1:B2291 --immunisation OPV:1 --by kader-02 >/dev/null
$simpul --data-dir "$work/posyandu" patient show "$baby"

echo "== a typing error is refused, naming the field"
$simpul --data-dir "$work/posyandu" visit add "$baby" --date 2026-10-14 --weight-kg 41 || true

echo "== the posyandu's people (first rows)"
$simpul --data-dir "$work/posyandu" patient list | head -n 8

echo "== carrying the newborn's record to the puskesmas as an Automerge document"
$simpul --data-dir "$work/posyandu" doc export "$baby" --out "$work/baby.automerge"
$simpul --data-dir "$work/puskesmas" doc import "$work/baby.automerge" >/dev/null
$simpul --data-dir "$work/puskesmas" patient list
echo "== done"
