//! Links the capsule with a 16 KiB guest stack on wasm32, also when cargo runs from another
//! directory (`.cargo/config.toml` is read only from inside this one).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=-zstack-size=16384");
    }
}
