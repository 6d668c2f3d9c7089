//! Nothing to import: the DSL's compile-fail and compile-pass cases are in `fail/` and `pass/`,
//! run by `tests/ui.rs`.
