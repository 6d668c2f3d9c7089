//! The DSL's compile-time behaviour: every misuse in `ui-tests/fail` is rejected with the
//! message in its `.stderr` (pointing at the user's tokens and saying what to write), and
//! every tricky-but-valid program in `ui-tests/pass` compiles and runs.
//!
//! Refresh the expected messages with `TRYBUILD=overwrite cargo test --test ui` (from the repository's root or
//! this folder), then review
//! the diff like code.

#[test]
fn dsl_misuse_is_rejected_and_tricky_programs_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/*.rs");
    cases.pass("pass/*.rs");
}
