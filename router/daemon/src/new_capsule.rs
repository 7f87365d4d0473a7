//! `ants new capsule NAME`: a capsule crate from the SDK's template
//! (`capsule-sdk/template`), ready to test on the host and build to wasm32.
//!
//! Owns the template's files (built into the program, so it works from anywhere), the crate
//! name's rules, and writing the crate into a new directory. It never overwrites anything: the
//! directory must not exist yet.

use std::path::{Path, PathBuf};

/// The template's files: path in the crate, contents.
const FILES: [(&str, &str); 6] = [
    (
        "Cargo.toml",
        include_str!("../../../capsule-sdk/template/Cargo.toml"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../../capsule-sdk/template/.cargo/config.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../../capsule-sdk/template/.gitignore"),
    ),
    (
        "build.rs",
        include_str!("../../../capsule-sdk/template/build.rs"),
    ),
    (
        "README.md",
        include_str!("../../../capsule-sdk/template/README.md"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../capsule-sdk/template/src/lib.rs"),
    ),
];

/// The SDK of the repository this program was built from, if it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../capsule-sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

/// Why a crate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NewCapsuleError {
    /// The name is no crate name.
    #[error(
        "`{0}` is not a crate name: use lowercase letters, digits and `-` or `_`, starting with a letter (e.g. `my-capsule`)"
    )]
    BadName(String),
    /// The directory exists.
    #[error("{} exists already: choose another name or --dir", .0.display())]
    Exists(PathBuf),
    /// No SDK to point at.
    #[error(
        "the capsule SDK was not found at {}: give its path with --sdk (the `capsule-sdk` folder of the repository)",
        .0.display()
    )]
    NoSdk(PathBuf),
    /// Writing failed.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: std::io::Error,
    },
}

/// Writes the capsule crate `name` into the new directory `dir`, depending on the SDK at
/// `sdk`. Returns the files written.
pub fn write_capsule(name: &str, dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, NewCapsuleError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if !valid {
        return Err(NewCapsuleError::BadName(name.to_string()));
    }
    if dir.exists() {
        return Err(NewCapsuleError::Exists(dir.to_path_buf()));
    }
    if !sdk.join("Cargo.toml").is_file() {
        return Err(NewCapsuleError::NoSdk(sdk.to_path_buf()));
    }
    let sdk_text = sdk
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let lib = name.replace('-', "_");
    let mut written = Vec::new();
    for (file, text) in FILES {
        let text = text
            .replace(
                "capsule-sdk = { path = \"..\" }",
                &format!("capsule-sdk = {{ path = \"{sdk_text}\" }}"),
            )
            .replace("capsule-template", name)
            .replace("capsule_template", &lib);
        let path = dir.join(file);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text.as_bytes())
        };
        write(&path).map_err(|error| NewCapsuleError::Write {
            path: path.clone(),
            error,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = default_sdk().expect("built inside the repository");
        for bad in ["", "My", "1st", "a b", "x/y", "ünï"] {
            assert!(matches!(
                write_capsule(bad, &dir.path().join("c"), &sdk),
                Err(NewCapsuleError::BadName(_))
            ));
        }
        assert!(matches!(
            write_capsule("ok", dir.path(), &sdk),
            Err(NewCapsuleError::Exists(_))
        ));
        assert!(matches!(
            write_capsule("ok", &dir.path().join("c"), &dir.path().join("nowhere")),
            Err(NewCapsuleError::NoSdk(_))
        ));
        let files = write_capsule("hop-count", &dir.path().join("hop"), &sdk).unwrap();
        assert_eq!(files.len(), FILES.len());
        let manifest = std::fs::read_to_string(dir.path().join("hop/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"hop-count\""), "{manifest}");
        assert!(
            manifest.contains(&format!("path = \"{}\"", sdk.display())),
            "{manifest}"
        );
        let readme = std::fs::read_to_string(dir.path().join("hop/README.md")).unwrap();
        assert!(readme.contains("release/hop_count.wasm"), "{readme}");
    }
}
