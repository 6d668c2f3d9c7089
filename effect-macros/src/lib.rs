//! The procedural macros of `effect`. Use them through the `effect` crate.
