# Helpers the scripts share (sourced, not run).

# Waits until `CONDITION...` (a command) succeeds while the process PID is alive; fails naming
# WHAT when the process exits first, with LOG's contents, or after STRATA_START_SECONDS (60)
# seconds. Start only what is already built: a script builds a program first, then starts it,
# so the wait is for the program, never for a compiler.
#
#   wait_started PID WHAT LOG CONDITION...
wait_started() {
    local pid=$1 what=$2 log=$3 status
    shift 3
    local deadline=$((SECONDS + ${STRATA_START_SECONDS:-60}))
    until "$@" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" && status=0 || status=$?
            [ -f "$log" ] && cat "$log" >&2
            echo "$what exited (status $status) before it was ready" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            [ -f "$log" ] && cat "$log" >&2
            echo "$what was not ready after ${STRATA_START_SECONDS:-60} s (still running as $pid)" >&2
            return 1
        fi
        sleep 0.1
    done
}

# Whether a TCP port of 127.0.0.1 accepts connections.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The target directory cargo builds the workspace of MANIFEST (default: this checkout's) into.
target_dir() {
    cargo metadata --no-deps --format-version 1 --manifest-path "${1:-Cargo.toml}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
