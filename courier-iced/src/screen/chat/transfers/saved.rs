//! Where a finished transfer's files went, as its card says it: the folder, and the
//! names files were saved under when those differ from the names offered (a file of
//! the same name was there already).

use std::path::{Path, PathBuf};

use courier_core::proto::FileEntry;

/// "Saved in <folder>", then each file saved under another name than offered.
pub(super) fn note(dir: &Path, offered: &[FileEntry], saved: &[PathBuf]) -> String {
    let mut note = format!("Saved in {}", dir.display());
    let renamed: Vec<String> = offered
        .iter()
        .zip(saved)
        .filter_map(|(file, path)| {
            let asked = Path::new(&file.path).file_name()?;
            let got = path.file_name()?;
            (asked != got).then(|| {
                format!(
                    "{} as {}",
                    courier_core::text::visible(&asked.to_string_lossy(), false),
                    courier_core::text::visible(&got.to_string_lossy(), false)
                )
            })
        })
        .collect();
    if !renamed.is_empty() {
        note.push_str(&format!(" (saved {})", renamed.join(", ")));
    }
    note
}
