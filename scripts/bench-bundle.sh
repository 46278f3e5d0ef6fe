#!/usr/bin/env bash
# Bundle figures (sync without a link), one JSON line each, from real nodes' stores and
# certificates through the real CLI:
#   bundle_first   a posyandu of N_PY records sends everything to its pustu: bundle bytes,
#                  stored bytes of what it carries and their ratio, the summary's size,
#                  seconds to make and to apply it (with the answer)
#   bundle_empty   after the round trip: the next bundle (nothing new but the audit of
#                  the bundle commands themselves), its bytes and records
#   bundle_pustu   a pustu of N_PU records: its summary and its whole bundle for the
#                  puskesmas
# Usage: scripts/bench-bundle.sh [N_PY] [N_PU]   (defaults 2000 and 10000)
set -euo pipefail
N_PY=${1:-2000}
N_PU=${2:-10000}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p simpul-cli
bin=$PWD/target/release/simpul
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
PK=3273/P3273010201
PU=$PK/3273010201-PU1
PY=$PU/3273010201-PY01
$bin ca init --district 3273 --out pki >/dev/null 2>&1
for n in pk:$PK pu:$PU py:$PY; do
  name=${n%%:*}; path=${n#*:}
  $bin ca issue --ca pki --path "$path" --out "pki/$name" >/dev/null 2>&1
  $bin --data-dir "$name" init --path "$path" >/dev/null 2>&1
  printf 'path = "%s"\ndata_dir = "%s"\nlisten = "127.0.0.1:0"\nca_cert = "pki/ca.crt"\ncert = "pki/%s/node.crt"\nkey = "pki/%s/node.key"\n' \
    "$path" "$name" "$name" "$name" > "$name.toml"
done
$bin --data-dir py gen --seed 1 --patients "$N_PY" --no-activities >/dev/null

# Seconds and peak RSS (MB) of a command, its stdout kept in $work/out.
timed() {
  /usr/bin/time -f '%e %M' -o time "$@" > out
  read -r secs rss_kb < time
  echo "$secs $((rss_kb / 1024))"
}
json() { python3 -c "import json,sys; d=json.load(open('out')); print($1)"; }

read -r make_s make_mb < <(timed $bin bundle create --config py.toml --for $PU --out py-1.simpul --peer-cert pki/pu/node.crt --json)
records=$(json 'd["records"]'); bytes=$(json 'd["bytes"]'); stored=$(json 'd["stored_bytes"]'); summary=$(json 'd["summary_bytes"]')
read -r apply_s apply_mb < <(timed $bin bundle apply --config pu.toml py-1.simpul --answer pu-1.simpul --json)
answer_records=$(json 'd["answer"]["records"]'); answer_bytes=$(json 'd["answer"]["bytes"]')
printf '{"bench":"bundle_first","posyandu_records":%s,"records":%s,"bundle_bytes":%s,"stored_bytes":%s,"bundle_over_stored":%s,"summary_bytes":%s,"create_s":%s,"create_peak_rss_mb":%s,"apply_and_answer_s":%s,"apply_peak_rss_mb":%s,"answer_records":%s,"answer_bytes":%s}\n' \
  "$N_PY" "$records" "$bytes" "$stored" "$(python3 -c "print(round($bytes/$stored,3))")" "$summary" "$make_s" "$make_mb" "$apply_s" "$apply_mb" "$answer_records" "$answer_bytes"

$bin bundle apply --config py.toml pu-1.simpul --json > /dev/null
$bin bundle create --config py.toml --for $PU --out py-2.simpul --json > out
printf '{"bench":"bundle_empty","records":%s,"bundle_bytes":%s,"summary_bytes":%s,"basis":"%s"}\n' \
  "$(json 'd["records"]')" "$(json 'd["bytes"]')" "$(json 'd["summary_bytes"]')" "$(json 'd["basis"]')"

# The pustu's own records, generated over its posyandu (after the round trip above, so
# that its answer carried only what the posyandu lacked of the exchange itself).
$bin --data-dir pu gen --seed 2 --patients "$N_PU" --no-activities >/dev/null
read -r pu_s pu_mb < <(timed $bin bundle create --config pu.toml --for $PK --out pu-pk.simpul --peer-cert pki/pk/node.crt --json)
bytes=$(json 'd["bytes"]'); stored=$(json 'd["stored_bytes"]')
printf '{"bench":"bundle_pustu","pustu_records":%s,"records":%s,"summary_bytes":%s,"bundle_bytes":%s,"stored_bytes":%s,"bundle_over_stored":%s,"create_s":%s,"create_peak_rss_mb":%s}\n' \
  "$N_PU" "$(json 'd["records"]')" "$(json 'd["summary_bytes"]')" "$bytes" "$stored" "$(python3 -c "print(round($bytes/$stored,3))")" "$pu_s" "$pu_mb"
