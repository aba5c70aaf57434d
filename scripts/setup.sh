# Sourced by scripts/run and scripts/test: create .venv if missing and install into it,
# again only when pyproject.toml changed since the last install.
ensure_venv() {
  local extras=${1:-}
  local py
  py=$(command -v python3.11 || command -v python3 || true)
  if [[ -z $py ]]; then
    echo "error: Python 3.11 or newer is needed (apt-get install python3)" >&2; exit 2
  fi
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: Python 3.11 or newer is needed; found $("$py" --version)" >&2; exit 2
  fi
  if [[ ! -x .venv/bin/python ]]; then
    if ! "$py" -m venv .venv >/dev/null 2>&1; then
      rm -rf .venv
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing python3-venv ..." >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$py" -m venv .venv
      else
        echo "error: '$py -m venv' failed; install python3-venv" >&2; exit 2
      fi
    fi
  fi
  local stamp=".venv/.installed${extras:+-$extras}"
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "installing corehub into .venv ..." >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
    echo "$want" > "$stamp"
  fi
  # Bytecode for corehub's own modules (an editable install gets none): every hub process,
  # and every process the tests start, would otherwise compile them again where
  # PYTHONDONTWRITEBYTECODE is set. Only changed files are compiled again.
  # A file that does not compile is reported here and again by the tests; it stops nothing.
  .venv/bin/python -m compileall -q src >&2 || echo "warning: compileall found errors in src" >&2
}
