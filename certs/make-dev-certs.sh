#!/usr/bin/env bash
# Makes a local CA and a serving certificate for prepull, with openssl, for development and for
# installing without cert-manager.
#
#   certs/make-dev-certs.sh [--out DIR] [--service NAME] [--namespace NS] [--days N]
#
# Writes to DIR (default .prepull/certs, git-ignored): ca.crt and ca.key (kept across runs, so a
# caBundle already registered stays valid), and tls.crt and tls.key (issued anew on every run),
# for the names the apiserver and local tools use: NAME, NAME.NS, NAME.NS.svc,
# NAME.NS.svc.cluster.local, localhost, 127.0.0.1 and ::1. Prints what to do with them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.prepull/certs"
SERVICE="prepull"
NAMESPACE="prepull"
DAYS=365

die() { printf 'make-dev-certs: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --service) SERVICE="${2:?--service needs a name}"; shift 2 ;;
    --namespace) NAMESPACE="${2:?--namespace needs a name}"; shift 2 ;;
    --days) DAYS="${2:?--days needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$DAYS" =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive whole number, got '$DAYS'"
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"

mkdir -p "$OUT"
HOST="$SERVICE.$NAMESPACE.svc"

if [[ ! -s "$OUT/ca.crt" || ! -s "$OUT/ca.key" ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/ca.key"
  openssl req -x509 -new -sha256 -key "$OUT/ca.key" -days 3650 -subj "/CN=prepull-dev-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$OUT/ca.crt"
fi

# The serving key is made fresh each time, as cert-manager does on renewal.
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/tls.key"
EXT="$(mktemp)"
CSR="$(mktemp)"
trap 'rm -f "$EXT" "$CSR"' EXIT
cat >"$EXT" <<CONF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$SERVICE,DNS:$SERVICE.$NAMESPACE,DNS:$HOST,DNS:$HOST.cluster.local,DNS:localhost,IP:127.0.0.1,IP:::1
CONF
openssl req -new -sha256 -key "$OUT/tls.key" -subj "/CN=$HOST" -out "$CSR"
openssl x509 -req -sha256 -in "$CSR" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial \
  -days "$DAYS" -extfile "$EXT" -out "$OUT/tls.crt" 2>/dev/null
rm -f "$OUT/ca.srl"
chmod 600 "$OUT/ca.key" "$OUT/tls.key"
openssl verify -CAfile "$OUT/ca.crt" "$OUT/tls.crt" >/dev/null

cat >&2 <<MSG
Certificates for $HOST in $OUT:
  ca.crt ca.key    the CA (kept across runs)
  tls.crt tls.key  the serving certificate (new key on every run)

Run prepull locally:
  TLS_CERT_FILE=$OUT/tls.crt TLS_KEY_FILE=$OUT/tls.key npm start

Install without cert-manager:
  kubectl -n $NAMESPACE create secret tls $SERVICE-tls --cert=$OUT/tls.crt --key=$OUT/tls.key
  helm install $SERVICE charts/prepull -n $NAMESPACE --set tls.certManager.enabled=false \\
    --set tls.secretName=$SERVICE-tls --set tls.caBundle=\$(base64 -w0 < $OUT/ca.crt)
MSG
