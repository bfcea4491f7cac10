# shellcheck shell=bash
# The one release build of the exporters (sourced, not run). Everything that runs, measures or
# ships a release binary builds it with `build_release_exporters`: cargo unifies features across
# the packages of one invocation, so a binary built alone, or by `cargo bench` (which adds
# dev-dependency features), has different symbol names, and the code-order lists
# (crates/*/code-order.txt, scripts/code-order.sh) would no longer match it.

EXPORTER_PACKAGES=(watchkeeper-host watchkeeper-blackbox watchkeeper-db)

build_release_exporters() { # [extra cargo args...]
    local args=() p
    for p in "${EXPORTER_PACKAGES[@]}"; do args+=(-p "$p" --bin "$p"); done
    cargo build --release "$@" "${args[@]}"
}

# Copies the freshly built release binary NAME to DIR (for benchmarks: a later `cargo bench`
# or example build may relink target/release/NAME with other features).
snapshot_release_binary() { # name dir
    mkdir -p "$2"
    cp "target/release/$1" "$2/$1"
}
