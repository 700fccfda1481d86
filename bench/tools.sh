# Installs the benchmarks' tools from Debian when they are missing (sourced,
# not run): `need PATH PACKAGE` installs PACKAGE unless PATH exists.
need() {
  if ! command -v "$1" >/dev/null && [ ! -x "$1" ]; then
    echo "installing $2 (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$2" >/dev/null; else sudo apt-get install -y -qq "$2" >/dev/null; fi
  fi
}
