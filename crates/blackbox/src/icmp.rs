//! The icmp prober (being written).
