//! Links the capsule with a 16 KiB guest stack on wasm32.
//!
//! `.cargo/config.toml` says the same, but cargo reads it only when run from inside
//! `capsules/`; this keeps `--manifest-path capsules/Cargo.toml` builds identical.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=-zstack-size=16384");
    }
}
