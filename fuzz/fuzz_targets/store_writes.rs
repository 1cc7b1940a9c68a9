//! Offers with arbitrary relative paths written through the real download store on a
//! real directory: every file lands inside the download folder, nothing outside it
//! changes, and nothing already there is overwritten.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use courier_core::transfer::store::Downloads;
use libfuzzer_sys::fuzz_target;

fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("courier-fuzz-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/canary"), b"canary").unwrap();
        root
    })
}

fuzz_target!(|hints: Vec<String>| {
    let root = root();
    let dl = root.join("downloads");
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join("existing"), b"keep").unwrap();
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(root.join("outside"), dl.join("link"));
    let store = Downloads::open(&dl).unwrap();
    for (i, hint) in hints.iter().take(16).enumerate() {
        let Ok(mut part) = store.part(hint, &format!("t{i}")) else { continue };
        use std::io::Write;
        part.file.write_all(b"data").unwrap();
        if let Ok(rel) = store.finish(part) {
            let full = dl.join(&rel);
            assert!(rel.is_relative(), "{rel:?}");
            assert!(full.canonicalize().unwrap().starts_with(dl.canonicalize().unwrap()));
        }
    }
    assert_eq!(std::fs::read(dl.join("existing")).unwrap(), b"keep");
    let outside: Vec<_> = std::fs::read_dir(root.join("outside")).unwrap().collect();
    assert_eq!(outside.len(), 1, "something was written outside");
    assert_eq!(std::fs::read(root.join("outside/canary")).unwrap(), b"canary");
    let top: Vec<_> = std::fs::read_dir(root).unwrap().collect();
    assert_eq!(top.len(), 2, "something was written beside the download folder");
});
