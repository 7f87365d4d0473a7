//! Helpers shared by this crate's integration tests and examples.

// Some report fields are only printed by the `check_module` example.
#[allow(dead_code)]
pub mod inspect;
