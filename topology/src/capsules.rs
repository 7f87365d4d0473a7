//! Finding capsule modules by name: `forward` means `<capsule dir>/forward.wasm`.
//!
//! Owns the lookup rules shared by the emulator and the namespace deployer: a name ending in
//! `.wasm` is a path (relative to the topology file's directory); any other name is a shipped
//! capsule in the capsule directory (`capsule_<name>.wasm`, as cargo names it, or
//! `<name>.wasm`), which is, in order, the one given explicitly
//! (`--capsules` or `$ANTS_CAPSULES`), or `capsules/target/wasm32-unknown-unknown/release`
//! found by walking up from the topology file and from the current directory. It never builds
//! anything: a missing module is an error that says to run `make capsules`.

use std::path::{Path, PathBuf};

/// Where shipped capsules are built, relative to the repository root.
pub const BUILD_DIR: &str = "capsules/target/wasm32-unknown-unknown/release";

/// Why a capsule module could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum CapsuleError {
    /// No capsule directory was given or found.
    #[error(
        "no capsule directory: build the capsules with `make capsules` (they land in {BUILD_DIR}), or pass --capsules DIR"
    )]
    NoDirectory,
    /// The module file of a shipped capsule has not been built.
    #[error("capsule `{name}` is not built ({} is missing): run `make capsules`", path.display())]
    Missing {
        /// The name asked for.
        name: String,
        /// The file looked for.
        path: PathBuf,
    },
    /// The module file is missing or unreadable.
    #[error("capsule `{name}`: cannot read {}: {source} (did `make capsules` run?)", path.display())]
    Read {
        /// The name asked for.
        name: String,
        /// The file tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Resolves capsule names to module files.
#[derive(Clone, Debug)]
pub struct CapsuleLocator {
    dir: Option<PathBuf>,
    base: PathBuf,
}

impl CapsuleLocator {
    /// Lookup rules for a topology file at `topology_file` (or none), with an explicit capsule
    /// directory if given. See the module docs for the search order.
    pub fn new(explicit: Option<&Path>, topology_file: Option<&Path>) -> Self {
        let base = topology_file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ANTS_CAPSULES").map(PathBuf::from))
            .or_else(|| find_up(&base))
            .or_else(|| std::env::current_dir().ok().and_then(|d| find_up(&d)));
        CapsuleLocator { dir, base }
    }

    /// The capsule directory in use, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The module file for `name`.
    pub fn path(&self, name: &str) -> Result<PathBuf, CapsuleError> {
        if name.ends_with(".wasm") {
            return Ok(self.base.join(name));
        }
        let dir = self.dir.as_ref().ok_or(CapsuleError::NoDirectory)?;
        // Cargo names each module after its crate (`capsule-forward` → `capsule_forward.wasm`).
        let stem = name.replace('-', "_");
        let crate_named = dir.join(format!("capsule_{stem}.wasm"));
        let plain = dir.join(format!("{stem}.wasm"));
        Ok(if !crate_named.is_file() && plain.is_file() {
            plain
        } else {
            crate_named
        })
    }

    /// Checks that every capsule of `names` has its module file, so a run fails up front with
    /// a clear message instead of when an application first needs one.
    pub fn require(&self, names: &[&str]) -> Result<(), CapsuleError> {
        for name in names {
            let path = self.path(name)?;
            if !path.is_file() {
                return Err(CapsuleError::Missing {
                    name: (*name).to_string(),
                    path,
                });
            }
        }
        Ok(())
    }

    /// The module bytes for `name`.
    pub fn load(&self, name: &str) -> Result<Vec<u8>, CapsuleError> {
        let path = self.path(name)?;
        std::fs::read(&path).map_err(|source| CapsuleError::Read {
            name: name.to_string(),
            path,
            source,
        })
    }
}

fn find_up(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .map(|d| d.join(BUILD_DIR))
        .find(|d| d.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("reliable_multicast.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("capsule_forward.wasm"), b"fwd").unwrap();
        let l = CapsuleLocator::new(Some(dir.path()), Some(Path::new("/x/y/net.toml")));
        assert_eq!(
            l.path("reliable-multicast").unwrap(),
            dir.path().join("reliable_multicast.wasm")
        );
        assert_eq!(l.load("reliable-multicast").unwrap(), b"\0asm");
        assert_eq!(l.load("forward").unwrap(), b"fwd");
        assert_eq!(l.path("my.wasm").unwrap(), Path::new("/x/y/my.wasm"));
        l.require(&["forward", "reliable-multicast"]).unwrap();
        let e = l.require(&["forward", "nothing"]).unwrap_err().to_string();
        assert!(
            e.contains("`nothing`") && e.contains("make capsules"),
            "{e}"
        );
        let e = l.load("nothing").unwrap_err().to_string();
        assert!(
            e.contains("nothing.wasm") && e.contains("make capsules"),
            "{e}"
        );
    }
}
