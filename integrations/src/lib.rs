//! Nothing to import: this package holds the examples and tests that need crates the facade's
//! own examples and tests do without (axum and hyper, `tracing-subscriber`, and the bench's
//! peers deadpool, governor and moka), so that those are built only when they are used.
//! See `Cargo.toml`.
