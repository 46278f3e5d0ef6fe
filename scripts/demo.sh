#!/usr/bin/env bash
# A demo district on this machine: a district office, a puskesmas, a pustu and two
# posyandu, each a real `simpul run` process with its own certificate and store, syncing
# over QUIC on loopback (configs in node-config/). People are registered at both posyandu
# and reach the district; a patient registered at the running puskesmas is pushed on at
# once; then the link between posyandu 2 and the pustu is cut (posyandu 2 reaches the
# pustu through simpul-relay), a child gets a visit on each side, and once the link is
# back both visits are everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v curl >/dev/null; then
  echo "installing curl (the demo plays a facility app against the data API)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq curl; else sudo apt-get update -qq && sudo apt-get install -y -qq curl; fi
fi
echo "== building simpul (release)"
cargo build --release --quiet -p simpul-cli
simpul=$PWD/target/release/simpul
relay=$PWD/target/release/simpul-relay
repo=$PWD
work=$(mktemp -d)
pids=()
stop_nodes() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT
cp node-config/*.toml "$work/"
cd "$work"
declare -A path=(
  [district]=3273
  [puskesmas]=3273/P3273010201
  [pustu]=3273/P3273010201/3273010201-PU1
  [posyandu1]=3273/P3273010201/3273010201-PU1/3273010201-PY01
  [posyandu2]=3273/P3273010201/3273010201-PU1/3273010201-PY02
)
nodes=(district puskesmas pustu posyandu1 posyandu2)
diallers=(puskesmas pustu posyandu1 posyandu2)

echo "== a district CA, a certificate and a store for each of the five nodes"
$simpul ca init --district 3273 --out pki 2>/dev/null
for n in "${nodes[@]}"; do
  $simpul ca issue --ca pki --path "${path[$n]}" --out "pki/$n" 2>/dev/null
  $simpul --data-dir "data/$n" init --path "${path[$n]}" 2>/dev/null
done

echo "== the posyandu register their people (80 + 70, generated)"
$simpul --data-dir data/posyandu1 gen --seed 1 --patients 80
$simpul --data-dir data/posyandu2 gen --seed 2 --patients 70
# Posyandu 2 reaches its pustu through a relay that drops everything while link-down exists.
sed -i 's/127.0.0.1:7402/127.0.0.1:7412/' posyandu2.toml

start_nodes() {
  mkdir -p logs
  "$relay" --listen 127.0.0.1:7412 --to 127.0.0.1:7402 --down-file link-down 2>logs/relay.log &
  pids+=($!)
  for n in "${nodes[@]}"; do
    $simpul run --config "$n.toml" 2>>"logs/$n.log" &
    pids+=($!)
  done
}

# Converged when, for a whole reconciliation period, nothing moved and every dialler's
# latest reconciliation found nothing to move.
wait_converged() {
  local moved last=-1
  for _ in $(seq 1 40); do
    sleep 6
    moved=$(cat logs/*.log | grep -c "reconciled and moved" || true)
    local quiet=yes
    for n in "${diallers[@]}"; do
      tail_line=$(grep -E "in sync|reconciled and moved" "logs/$n.log" | tail -n 1 || true)
      [[ "$tail_line" == *"in sync"* ]] || quiet=no
    done
    if [[ $quiet == yes && $moved == "$last" ]]; then return 0; fi
    last=$moved
  done
  echo "the district did not converge in time; logs are in $work/logs" >&2
  return 1
}

count() { $simpul --data-dir "data/$1" patient list --all | tail -n 1; }
# How many of the two visits recorded while apart (dated 20 and 21 November) a node holds.
visits() { $simpul --data-dir "data/$1" patient show "$child" | grep -c "2026-11-2[01]" || true; }

echo "== starting the five nodes (logs in logs/)"
start_nodes
wait_converged
echo "   district:  $(count district)    (everyone)"
echo "   puskesmas: $(count puskesmas)"
echo "   pustu:     $(count pustu)    (both posyandu)"
echo "   posyandu1: $(count posyandu1)     (its own people only)"
echo "   posyandu2: $(count posyandu2)"

echo "== the running puskesmas registers a patient; it is pushed to the district at once"
budi=$($simpul --data-dir data/puskesmas patient add --nik 3273011505800001 --name "Budi Santoso" \
  --sex M --birth-date 1980-05-15 --village 32.73.01.2001)
for _ in $(seq 1 50); do
  $simpul --data-dir data/district patient show "$budi" >/dev/null 2>&1 && break
  sleep 0.1
done
$simpul --data-dir data/district patient show "$budi" | head -n 1 | sed 's/^/   district: /'

echo "== a kader's app registers a mother through the data API at posyandu 1; the district reads it"
kader=$($simpul --data-dir data/posyandu1 token issue --role kader --name "Kader Ani" 2>/dev/null)
viewer=$($simpul --data-dir data/district token issue --role viewer --name "Dinkes data" 2>/dev/null)
sari=$(curl -sf -H "Authorization: Bearer $kader" -H 'Content-Type: application/json' \
  -d '{"name":"Sari Wulandari","sex":"F","birth_date":"1995-03-14","nik":"3273015403950002","village":"3273012001"}' \
  http://127.0.0.1:8403/api/v1/patients | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
for _ in $(seq 1 100); do
  curl -sf -H "Authorization: Bearer $viewer" "http://127.0.0.1:8400/api/v1/patients/$sari" >/dev/null && break
  sleep 0.1
done
curl -s -H "Authorization: Bearer $viewer" "http://127.0.0.1:8400/api/v1/patients/$sari" \
  | grep -o '"name":"[^"]*"' | sed 's/^/   district API: /'
echo "   wrong input is refused, naming the field:"
curl -s -H "Authorization: Bearer $kader" -H 'Content-Type: application/json' \
  -d '{"name":"X","sex":"F","birth_date":"2090-01-01","village":"3273012001"}' \
  http://127.0.0.1:8403/api/v1/patients | sed 's/^/   /'; echo
for _ in $(seq 1 50); do
  $simpul --data-dir data/district audit --who "Kader Ani" --json 2>/dev/null | grep -q create && break
  sleep 0.2
done
$simpul --data-dir data/district audit --who "Kader Ani" | head -n 2 | sed 's/^/   district audit: /'

child=$($simpul --data-dir data/posyandu2 patient list --all --json | grep -m1 '"birth_date":"202[2-6]' | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
echo "== cutting the link posyandu 2 <-> pustu; each side records a visit for child $child"
touch link-down
$simpul --data-dir data/posyandu2 visit add "$child" --date 2026-11-20 --weight-kg 11.2 --by kader-03 \
  --klaster ibu-anak --setting posyandu >/dev/null
$simpul --data-dir data/pustu visit add "$child" --date 2026-11-21 --bp 118/76 --by bidan-01 \
  --setting home-visit --note "follow-up" >/dev/null
sleep 8
echo "   apart: posyandu 2 holds $(visits posyandu2) of the 2 new visits, the district $(visits district)"

echo "== healing the link"
rm link-down
wait_converged
echo "   together again: posyandu 2 holds $(visits posyandu2) of 2, the district $(visits district) of 2:"
$simpul --data-dir data/district patient show "$child" | grep -E "2026-11-2[01]" | sed 's/^/   /'
echo "== the health office's dashboard at the district (a viewer token, a browser session)"
for n in "${nodes[@]}"; do
  [ "$n" = district ] && continue
  $simpul --data-dir data/district facility set "${path[$n]}" --name "$n" >/dev/null 2>&1 || true
done
sleep 2
curl -s -c jar -b jar -L "http://127.0.0.1:8400/dashboard?token=$viewer" >"$repo/target/demo-dashboard.html"
echo "   $(grep -o '<tr data-facility' "$repo/target/demo-dashboard.html" | wc -l) facilities listed; the page as served: target/demo-dashboard.html"
grep -o 'data-facility="[^"]*"' "$repo/target/demo-dashboard.html" | sed 's/data-facility="\(.*\)"/   \1/'
stop_nodes
echo "== done: five nodes, real QUIC with mutual TLS, stopped cleanly"
