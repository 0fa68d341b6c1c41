# Sourced after testlib.sh by tests that need loopback git repositories: a private HOME whose
# .gitconfig maps https://github.com/ (or any prefix) to a `git daemon` on 127.0.0.1, and
# helpers to make repositories and commits. The daemon is stopped when the test exits.
export HOME="$T_TMP/home"
export GIT_CONFIG_NOSYSTEM=1
export XDG_CONFIG_HOME="$HOME/.config"
unset GIT_CONFIG_GLOBAL GIT_CONFIG_COUNT GITHUB_TOKEN GITLAB_TOKEN
mkdir -p "$HOME" "$T_TMP/srv"
git config --global user.name imgfactory-test
git config --global user.email test@example.invalid
git config --global init.defaultBranch main
GIT_SRV="$T_TMP/srv"
GIT_PORT=""
GIT_DAEMON_PID=""

# git_daemon_start [ARG...]: serves $GIT_SRV on a free loopback port ($GIT_PORT); extra
# arguments go to git daemon (e.g. --enable=receive-pack to accept pushes).
git_daemon_start() {
  local attempt i
  for attempt in 1 2 3 4 5; do
    GIT_PORT=$(free_port)
    git daemon --export-all --reuseaddr --base-path="$GIT_SRV" --listen=127.0.0.1 --port="$GIT_PORT" \
      --pid-file="$T_TMP/git-daemon.pid" "$@" "$GIT_SRV" >"$T_TMP/git-daemon.log" 2>&1 &
    GIT_DAEMON_PID=$!
    for i in $(seq 1 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$GIT_PORT") 2>/dev/null; then return 0; fi
      kill -0 "$GIT_DAEMON_PID" 2>/dev/null || break
      sleep 0.1
    done
    git_daemon_stop
  done
  echo "cannot start git daemon: $(cat "$T_TMP/git-daemon.log")" >&2
  return 1
}
git_daemon_stop() {
  if [[ -n "$GIT_DAEMON_PID" ]]; then
    kill "$GIT_DAEMON_PID" 2>/dev/null
    wait "$GIT_DAEMON_PID" 2>/dev/null
    GIT_DAEMON_PID=""
  fi
}
t_on_exit git_daemon_stop

# git_map PREFIX: url.<daemon>.insteadOf PREFIX (e.g. https://github.com/)
git_map() {
  git config --global --replace-all "url.git://127.0.0.1:$GIT_PORT/.insteadOf" "$1"
}

# git_repo OWNER/NAME: a bare repository served by the daemon and a work tree at $T_TMP/work/OWNER/NAME
git_repo() {
  git init -q --bare "$GIT_SRV/$1.git"
  git init -q "$T_TMP/work/$1"
  git -C "$T_TMP/work/$1" remote add origin "$GIT_SRV/$1.git"
}

# git_put OWNER/NAME PATH CONTENT [BRANCH]: commits the file on BRANCH (main) and pushes it
git_put() {
  local dir="$T_TMP/work/$1" branch="${4:-main}"
  git -C "$dir" fetch -q origin 2>/dev/null
  if git -C "$dir" rev-parse -q --verify "origin/$branch" >/dev/null; then
    git -C "$dir" checkout -q -B "$branch" "origin/$branch"
  else
    git -C "$dir" checkout -q -B "$branch"
  fi
  mkdir -p "$(dirname "$dir/$2")"
  printf '%s' "$3" >"$dir/$2"
  git -C "$dir" add -A
  git -C "$dir" commit -q -m "update $2"
  git -C "$dir" push -q origin "HEAD:refs/heads/$branch" 2>/dev/null
}
