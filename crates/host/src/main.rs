//! `watchkeeper-host`: the host exporter binary.

fn main() {}
