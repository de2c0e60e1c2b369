#!/bin/sh
# Fill deploy/nginx/ingress.conf.template from the environment and start nginx in the foreground.
#   render.sh TEMPLATE OUTPUT [nginx arguments...]
# Defaults fit the proxy image (oci/proxy.Containerfile) in the compose stack.
set -eu
template=$1
output=$2
shift 2
: "${GATEWAY_UPSTREAM:=gateway:8000}"
: "${HTTPS_PORT:=8443}"
: "${TLS_CERT:=/etc/ingress-tls/tls.crt}"
: "${TLS_KEY:=/etc/ingress-tls/tls.key}"
: "${MAX_UPLOAD_BYTES:=33554432}"
: "${NGINX_RUN:=/tmp/nginx}"
case $MAX_UPLOAD_BYTES in
    ''|*[!0-9]*) echo "render.sh: MAX_UPLOAD_BYTES: '$MAX_UPLOAD_BYTES' is not a whole number of bytes" >&2; exit 2 ;;
esac
CLIENT_MAX_BODY=$((MAX_UPLOAD_BYTES + 65536))
export GATEWAY_UPSTREAM HTTPS_PORT TLS_CERT TLS_KEY MAX_UPLOAD_BYTES NGINX_RUN CLIENT_MAX_BODY
mkdir -p "$NGINX_RUN"
if [ ! -f "$TLS_CERT" ] || [ ! -f "$TLS_KEY" ]; then
    # A trial without certificates still starts; browsers and loggers will (rightly) distrust it.
    echo "render.sh: no certificate at $TLS_CERT and $TLS_KEY: using a self-signed one for 'localhost' (mount yours for anything but a trial)" >&2
    TLS_CERT=$NGINX_RUN/self-signed.crt
    TLS_KEY=$NGINX_RUN/self-signed.key
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null
fi
envsubst '${GATEWAY_UPSTREAM} ${HTTPS_PORT} ${TLS_CERT} ${TLS_KEY} ${MAX_UPLOAD_BYTES} ${NGINX_RUN} ${CLIENT_MAX_BODY}' \
    < "$template" > "$output"
exec nginx -e stderr -c "$output" -g 'daemon off;' "$@"
