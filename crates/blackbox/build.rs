//! Lays out the binary's hot code contiguously; see `watchkeeper_build`.
fn main() {
    watchkeeper_build::link_code_order();
}
