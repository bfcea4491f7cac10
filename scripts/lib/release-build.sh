# shellcheck shell=bash
# The one release build of the exporters (sourced, not run). Everything that runs, measures or
# ships a release binary builds it with `build_release_exporters`: cargo unifies features across
# the packages of one invocation, so a binary built alone, or by `cargo bench` (which adds
# dev-dependency features), has different symbol names, and the code-order lists
# (crates/*/code-order.txt, scripts/code-order.sh) would no longer match it.

#
# The exporters whose code order is traced are built in one invocation, exactly as when their
# lists were made; the others in a second one, so that their dependencies' features (SQLite,
# an HTTP client) never change the symbol names the lists name.
ORDERED_PACKAGES=(watchkeeper-host watchkeeper-blackbox watchkeeper-db)
OTHER_PACKAGES=(watchkeeper-tls watchkeeper-backup watchkeeper-incident)
EXPORTER_PACKAGES=("${ORDERED_PACKAGES[@]}" "${OTHER_PACKAGES[@]}")

build_release_exporters() { # [extra cargo args...]
    local args=() others=() p
    for p in "${ORDERED_PACKAGES[@]}"; do args+=(-p "$p" --bin "$p"); done
    cargo build --release "$@" "${args[@]}" || return 1
    for p in "${OTHER_PACKAGES[@]}"; do
        [ -d "crates/${p#watchkeeper-}" ] && others+=(-p "$p" --bin "$p")
    done
    [ "${#others[@]}" -eq 0 ] || cargo build --release "$@" "${others[@]}"
}

# Copies the freshly built release binary NAME to DIR (for benchmarks: a later `cargo bench`
# or example build may relink target/release/NAME with other features).
snapshot_release_binary() { # name dir
    mkdir -p "$2"
    cp "target/release/$1" "$2/$1"
}
