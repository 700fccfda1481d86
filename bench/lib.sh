# Shared set-up of the hyperfine benchmarks (sourced, not run): installs
# hyperfine and GNU time from Debian if missing, builds the release binary
# and writes the generated 30-backend, 3-model topology. Sets $bin and $topo.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/tools.sh
need hyperfine hyperfine
need /usr/bin/time time
cargo build --release --locked -q
mkdir -p bench/out
topo=bench/out/topology-30.yaml
bench/gen-topology.sh 30 3 > "$topo"
bin=target/release/oailb
