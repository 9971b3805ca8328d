//! Shared helpers: the agent payloads, a Python with pyarrow, the binary.

use std::path::PathBuf;

/// `../shared/testdata/agents/<name>`; panics with a clear message if absent.
pub fn agent_file(name: &str) -> Vec<u8> {
    let path = shared_dir().join("testdata/agents").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "missing test payload {} ({e}); clone Kiln next to shared/",
            path.display()
        )
    })
}

/// The project's `../shared` folder.
pub fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `kiln` binary under test.
pub fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// The Python that `scripts/install-test-deps` set up (with pyarrow);
/// `KILN_TEST_PYTHON` overrides. Panics if missing: never a silent skip.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/install-test-deps (scripts/test does)",
        venv.display()
    );
    venv
}
