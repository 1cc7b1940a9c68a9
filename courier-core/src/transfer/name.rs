//! Received file names are untrusted: a name from an offer is a *suggestion*, never a
//! path. These pure functions reduce any string to names that cannot leave the download
//! folder, hide what they are, or collide with device names: the threats F1–F10 of the
//! security review's "Writing received files" (each named in the tests below).
//!
//! - [`sanitize_path`]: a relative path hint (`photos/2024/a.jpg`) to safe components.
//! - [`sanitize_name`]: one component.
//! - [`numbered`] and [`collision_key`]: for "never overwrite" (` (1)`, ` (2)` …).

use unicode_normalization::UnicodeNormalization;

use crate::proto::is_invisible;

/// The name used when nothing usable is left of the original.
pub const FALLBACK_NAME: &str = "received-file";
/// Longest name, in bytes (common file-system limit).
pub const MAX_NAME_BYTES: usize = 255;
/// Most path components kept from an offer's relative path (folders plus the file).
pub const MAX_DEPTH: usize = 16;
/// An extension longer than this is not kept apart when a name is shortened.
const MAX_EXTENSION_BYTES: usize = 16;

/// Characters that are never allowed in a name (Windows reserves them; `/` and `\` are
/// separators everywhere).
const FORBIDDEN: [char; 9] = ['/', '\\', ':', '*', '?', '"', '<', '>', '|'];

/// Windows device names, with any extension and trailing spaces (`CON`, `con.txt`,
/// `COM¹`, `AUX .tar.gz`): opening one writes to a device, not a file.
pub fn is_reserved(name: &str) -> bool {
    let base = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end_matches(' ');
    let upper = base.to_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$"
    ) {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    (prefix == "COM" || prefix == "LPT")
        && matches!(rest.as_slice(), [d] if matches!(d, '1'..='9' | '¹' | '²' | '³'))
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a short extension.
fn truncate(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let cut = |s: &str, budget: usize| -> String {
        let mut end = budget.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.get(..end).unwrap_or_default().to_owned()
    };
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => {
            let (stem, ext) = name.split_at(dot);
            cut(stem, max - ext.len()) + ext
        }
        _ => cut(name, max),
    }
}

/// Reduces one untrusted name to a safe file name: NFC; invisible and bidi characters
/// removed; controls and `/ \ : * ? " < > |` replaced by `_`; leading dots and spaces and
/// trailing dots and spaces stripped; device names prefixed with `_`; at most
/// [`MAX_NAME_BYTES`] bytes, extension kept; never empty ([`FALLBACK_NAME`]). Fullwidth
/// look-alikes of `/` and `\` stay literal characters. Idempotent.
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(4 * MAX_NAME_BYTES));
    // Invisible characters go before normalizing: removing one from between two
    // combining marks would otherwise change the canonical order a second pass sees.
    for c in raw.chars().filter(|c| !is_invisible(*c)).nfc() {
        out.push(if c.is_control() || FORBIDDEN.contains(&c) {
            '_'
        } else {
            c
        });
    }
    let mut name = out
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    if is_reserved(&name) {
        name.insert(0, '_');
    }
    let name = truncate(&name, MAX_NAME_BYTES);
    let name = name.trim_end_matches(['.', ' ']);
    if name.is_empty() {
        return FALLBACK_NAME.to_owned();
    }
    // A received file never looks like a transfer's unfinished part, so no sender can
    // plant bytes where another's transfer would resume.
    if name.to_lowercase().ends_with(".part") {
        return format!("{}_", truncate(name, MAX_NAME_BYTES - 1));
    }
    name.to_owned()
}

/// Reduces an untrusted relative path (either separator) to safe components, dropping
/// empty, `.` and `..` parts, so that joining them under a folder stays inside it. Keeps
/// at most [`MAX_DEPTH`] components (the first folders and the file name).
pub fn sanitize_path(hint: &str) -> Vec<String> {
    let unified = hint.replace('\\', "/");
    let mut parts: Vec<String> = unified
        .split('/')
        .filter(|p| !matches!(p.trim(), "" | "." | ".."))
        .map(sanitize_name)
        .collect();
    if parts.len() > MAX_DEPTH {
        let file = parts.pop();
        parts.truncate(MAX_DEPTH - 1);
        parts.extend(file);
    }
    if parts.is_empty() {
        parts.push(FALLBACK_NAME.to_owned());
    }
    parts
}

/// `name` with ` (n)` before its extension: `report.pdf` → `report (2).pdf`. The result
/// is sanitized (still at most [`MAX_NAME_BYTES`]).
pub fn numbered(name: &str, n: u32) -> String {
    let suffix = format!(" ({n})");
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => name.split_at(dot),
        _ => (name, ""),
    };
    let stem = truncate(
        stem,
        MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len()),
    );
    sanitize_name(&format!("{stem}{suffix}{ext}"))
}

/// The key under which two names collide: on case-insensitive or normalizing file
/// systems (`README` / `readme`, `é` composed / decomposed), and to a person's eye (the
/// TR39 confusable skeleton: `invoice.pdf` / Cyrillic `іnvoice.pdf`), so that a file
/// that only looks like another arrives as `name (1)` beside it.
pub fn collision_key(name: &str) -> String {
    let folded: String = name.nfc().flat_map(char::to_lowercase).collect();
    unicode_security::confusable_detection::skeleton(&folded)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    /// Found by the `sanitize_name` fuzz target: a bidi override between combining marks.
    /// Dropping it after normalizing left marks out of canonical order, so a second pass
    /// changed the name.
    #[test]
    fn invisible_characters_between_combining_marks_stay_idempotent() {
        let raw = "'\u{748}\u{656}\u{302e}\u{748}\u{202e}\u{302e}\u{748}\u{302e}\u{654}";
        let once = sanitize_name(raw);
        assert_eq!(sanitize_name(&once), once);
        assert!(!once.contains('\u{202e}'));
    }

    #[test]
    fn catalogue_f1_to_f10() {
        let cases = [
            // F1 traversal
            ("../../.bashrc", vec!["bashrc"]),
            ("a/../../b", vec!["a", "b"]),
            ("..", vec![FALLBACK_NAME]),
            // F2 Windows forms, on every OS
            ("..\\..\\Windows\\x", vec!["Windows", "x"]),
            ("C:\\Windows\\x", vec!["C_", "Windows", "x"]),
            ("C:evil", vec!["C_evil"]),
            ("\\\\server\\share\\x", vec!["server", "share", "x"]),
            ("\\??\\C:\\x", vec!["__", "C_", "x"]),
            ("\\\\?\\C:\\x", vec!["_", "C_", "x"]),
            // F3 absolute
            ("/etc/passwd", vec!["etc", "passwd"]),
            (
                "/home/victim/.ssh/authorized_keys",
                vec!["home", "victim", "ssh", "authorized_keys"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_path(input), want, "{input:?}");
        }
        // F4 device names
        for (input, want) in [
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("NUL", "_NUL"),
            ("COM1.log", "_COM1.log"),
            ("LPT9", "_LPT9"),
            ("COM¹", "_COM¹"),
            ("CONIN$", "_CONIN$"),
            ("AUX.tar.gz", "_AUX.tar.gz"),
            ("AUX .txt", "_AUX .txt"),
            ("COM10", "COM10"),
            ("console", "console"),
        ] {
            assert_eq!(sanitize_name(input), want, "{input:?}");
        }
        // F5 trailing dots and spaces, ADS, forbidden characters
        assert_eq!(sanitize_name("file."), "file");
        assert_eq!(sanitize_name("file "), "file");
        assert_eq!(sanitize_name("file:stream"), "file_stream");
        assert_eq!(sanitize_name("a*?b<>|\""), "a__b____");
        // F6 controls
        assert_eq!(sanitize_name("a\0b"), "a_b");
        assert_eq!(sanitize_name("line\nname"), "line_name");
        assert_eq!(sanitize_name("control\x1b[1Aname"), "control_[1Aname");
        assert_eq!(sanitize_name("c1\u{0085}x"), "c1_x");
        // F7 bidi and zero-width removed; fullwidth separators stay literal
        assert_eq!(sanitize_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize_name("a\u{200B}b"), "ab");
        assert_eq!(sanitize_name("a\u{FF0F}b\u{FF3C}c"), "a\u{FF0F}b\u{FF3C}c");
        // F8 normalization: decomposed é becomes composed; collisions fold case and form
        assert_eq!(sanitize_name("e\u{0301}.txt"), "\u{e9}.txt");
        assert_eq!(collision_key("README"), collision_key("readme"));
        assert_eq!(collision_key("e\u{0301}.txt"), collision_key("\u{e9}.TXT"));
        assert_eq!(
            collision_key("invoice.pdf"),
            collision_key("\u{456}nvoice.pdf")
        );
        assert_ne!(collision_key("invoice.pdf"), collision_key("invoice.odf"));
        // F9 empty and long
        for empty in ["", ".", "   ", " . . ", "\u{200B}"] {
            assert_eq!(sanitize_name(empty), FALLBACK_NAME, "{empty:?}");
        }
        let long = format!("{}.pdf", "é".repeat(5000));
        let cut = sanitize_name(&long);
        assert!(
            cut.len() <= MAX_NAME_BYTES && cut.ends_with(".pdf"),
            "{}",
            cut.len()
        );
        // F10 leading dots
        assert_eq!(sanitize_name(".bashrc"), "bashrc");
        assert_eq!(sanitize_name("...ssh"), "ssh");
    }

    #[test]
    fn numbered_names_keep_the_extension_and_the_limit() {
        assert_eq!(numbered("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered("archive", 12), "archive (12)");
        assert_eq!(numbered(".hidden", 2), "hidden (2)");
        let long = format!("{}.txt", "x".repeat(300));
        let n = numbered(&sanitize_name(&long), 3);
        assert!(n.len() <= MAX_NAME_BYTES && n.ends_with(" (3).txt"), "{n}");
    }

    #[test]
    fn depth_is_capped_and_the_file_name_kept() {
        let deep = (0..100)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("/")
            + "/file.txt";
        let parts = sanitize_path(&deep);
        assert_eq!(parts.len(), MAX_DEPTH);
        assert_eq!(parts.last().map(String::as_str), Some("file.txt"));
    }

    fn nasty() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("C:".to_owned()),
            Just("CON".to_owned()),
            Just("com1".to_owned()),
            Just(" ".to_owned()),
            Just("\u{202E}".to_owned()),
            Just("\u{200B}".to_owned()),
            Just("e\u{0301}".to_owned()),
            Just("\u{0958}".to_owned()),
            Just("é".repeat(40)),
            Just("\0".to_owned()),
            Just(".part".to_owned()),
            Just(".PaRt".to_owned()),
            any::<char>().prop_map(String::from),
            "[a-z]{1,8}",
        ];
        proptest::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
    }

    fn assert_safe(name: &str) -> Result<(), TestCaseError> {
        prop_assert!(!name.is_empty());
        prop_assert!(name.len() <= MAX_NAME_BYTES, "{} bytes", name.len());
        prop_assert!(
            !name
                .chars()
                .any(|c| c.is_control() || FORBIDDEN.contains(&c) || is_invisible(c))
        );
        prop_assert!(!name.starts_with('.'));
        prop_assert!(!name.ends_with('.') && !name.ends_with(' '));
        prop_assert!(!is_reserved(name), "{name:?} is a device name");
        prop_assert!(
            !name.to_lowercase().ends_with(".part"),
            "{name:?} looks like a part"
        );
        prop_assert_ne!(name, "..");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn names_are_safe_and_sanitizing_is_idempotent(raw in nasty()) {
            let once = sanitize_name(&raw);
            assert_safe(&once)?;
            prop_assert_eq!(sanitize_name(&once), once.clone());
            let n = numbered(&once, 7);
            assert_safe(&n)?;
        }

        #[test]
        fn paths_stay_inside_the_download_folder(raw in nasty()) {
            let base = Path::new("/downloads/courier");
            let parts = sanitize_path(&raw);
            prop_assert!(!parts.is_empty() && parts.len() <= MAX_DEPTH);
            let mut path = base.to_path_buf();
            for p in &parts {
                assert_safe(p)?;
                let before = path.clone();
                path.push(p);
                // `push` extends; it would *replace* the path for an absolute component.
                prop_assert_eq!(path.parent(), Some(before.as_path()));
            }
            prop_assert!(path.starts_with(base));
            prop_assert_eq!(path.components().count(), base.components().count() + parts.len());
        }

        #[test]
        fn arbitrary_strings_never_panic_and_come_out_safe(raw in any::<String>()) {
            assert_safe(&sanitize_name(&raw))?;
            for p in sanitize_path(&raw) {
                assert_safe(&p)?;
            }
        }
    }
}
