# Helpers shared by the service scripts. Sourced, not run.

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Run a command as USER when we are root, else as ourselves.
as_user() {
    local user=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

# Install Debian packages when we may (root with apt); quietly.
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "cannot install $* (not root or no apt): install them yourself" >&2
        return 1
    fi
    echo "== apt-get: installing $* (missing here)" >&2
    if [ -z "${NIMUE_APT_UPDATED:-}" ]; then
        apt-get update -qq >/dev/null
        NIMUE_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Report a database that could not be started: a failure under CI=true, a skip otherwise.
unavailable() {
    local what=$1
    if [ "${CI:-}" = true ]; then
        echo "ERROR: $what is not available, and CI=true forbids skipping it" >&2
        exit 1
    fi
    echo "SKIP: $what is not available here; its tests will be skipped" >&2
}

# A private CA (ca.crt) and a server certificate for 127.0.0.1 signed by it (server.crt,
# server.key readable by OWNER only) in DIR.
make_tls_files() {
    local dir=$1 owner=$2
    command -v openssl >/dev/null || apt_install openssl || return 1
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nimue test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.crt
        chmod 600 server.key ca.key
        chmod 644 ca.crt
        [ "$(id -u)" = 0 ] && chown "$owner": server.key server.crt
        true
    ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
}
