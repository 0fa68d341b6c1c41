# A throwaway docker-registry (distribution) on 127.0.0.1, marked insecure the containers way.
# Sourced by tests/e2e/build_*.sh, scripts/demo-build.sh and bench/build/run.sh.
#
#   registry_start DIR PORT     serve on 127.0.0.1:PORT, storage under DIR/data; waits until it answers
#   registry_stop DIR           stop it (SIGKILL: as abrupt as a crash), wait for it to go; a
#                               stale pid file (the process is another one now) is only removed
#   registry_dropin_write PORT  /etc/containers/registries.conf.d/90-imgfactory-127.0.0.1-PORT.conf
#                               marking 127.0.0.1:PORT insecure (plain HTTP) for buildah and skopeo
#   registry_dropin_remove PORT
#   registry_free_port          a free TCP port on 127.0.0.1
#   registry_up DIR             registry_start on a free port (another one if that port is taken
#                               meanwhile) plus its drop-in; sets REGISTRY_PORT, remembers it in
#                               DIR/registry.port. Returns 1 when the registry does not start,
#                               2 when the drop-in cannot be written (not root)
#   registry_down DIR           registry_stop and the drop-in removed (what registry_up made)

REGISTRY_DROPIN_DIR="${REGISTRY_DROPIN_DIR:-/etc/containers/registries.conf.d}"

registry_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

registry_start() {
  local dir="$1" port="$2" i
  mkdir -p "$dir/data"
  cat >"$dir/registry.yml" <<CONF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CONF
  docker-registry serve "$dir/registry.yml" >>"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  disown $! 2>/dev/null || true  # no "Killed" job report when registry_stop ends it
  for ((i = 0; i < 100; i++)); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "registry on 127.0.0.1:$port did not start; log:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

registry_stop() {
  local dir="$1" pid i
  [[ -f "$dir/registry.pid" ]] || return 0
  pid=$(cat "$dir/registry.pid")
  # Only our registry: a pid file left by a killed run may name another process by now.
  if grep -qaF "$dir/registry.yml" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$dir/registry.pid"
}

registry_dropin_path() { echo "$REGISTRY_DROPIN_DIR/90-imgfactory-127.0.0.1-$1.conf"; }

registry_dropin_write() {
  local port="$1" f
  f=$(registry_dropin_path "$port")
  mkdir -p "$REGISTRY_DROPIN_DIR" 2>/dev/null || true
  cat >"$f" 2>/dev/null <<CONF || return 1
# Written by imgfactory's scripts/lib/registry.sh for a loopback test registry; removed when done.
[[registry]]
location = "127.0.0.1:$port"
insecure = true
CONF
}

registry_dropin_remove() { rm -f "$(registry_dropin_path "$1")"; }

registry_up() {
  local dir="$1" attempt
  REGISTRY_PORT=""
  for attempt in 1 2 3; do
    REGISTRY_PORT=$(registry_free_port)
    if registry_start "$dir" "$REGISTRY_PORT" 2>>"$dir.start.log"; then break; fi
    REGISTRY_PORT=""
  done
  if [[ -z "$REGISTRY_PORT" ]]; then
    cat "$dir.start.log" >&2
    rm -f "$dir.start.log"
    return 1
  fi
  rm -f "$dir.start.log"
  echo "$REGISTRY_PORT" >"$dir/registry.port"
  if ! registry_dropin_write "$REGISTRY_PORT"; then
    echo "cannot write $(registry_dropin_path "$REGISTRY_PORT") (needs root) to mark 127.0.0.1:$REGISTRY_PORT insecure" >&2
    return 2
  fi
}

registry_down() {
  local dir="$1"
  registry_stop "$dir"
  if [[ -f "$dir/registry.port" ]]; then
    registry_dropin_remove "$(cat "$dir/registry.port")"
    rm -f "$dir/registry.port"
  fi
}
