# Shared set-up of the hyperfine benchmarks (sourced, not run): installs
# hyperfine from Debian if missing, builds the release binary and writes the
# generated 30-backend, 3-model topology. Sets $bin and $topo.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v hyperfine >/dev/null; then
  echo "installing hyperfine (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq hyperfine >/dev/null; else sudo apt-get install -y -qq hyperfine >/dev/null; fi
fi
cargo build --release --locked -q
mkdir -p bench/out
topo=bench/out/topology-30.yaml
bench/gen-topology.sh 30 3 > "$topo"
bin=target/release/oailb
