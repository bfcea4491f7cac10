//! The grpc prober (being written).
