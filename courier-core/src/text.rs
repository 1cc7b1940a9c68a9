//! Untrusted text for people: one rule for terminals and one for the app, shared by
//! every front end, so that no name, message or file name from someone else can move a
//! cursor, reorder what is shown, hide a difference, or pass for another sender's line.

use std::fmt::Write;

use crate::proto::is_invisible;

/// How a continuation line of a multi-line text starts on a terminal: never like a new
/// line of output (those start with `[` or a name), so a text cannot fake another
/// sender's line.
pub const CONTINUATION: &str = "  | ";

/// Whether `c` must not reach a screen as it is: control characters (C0, DEL, C1) and
/// the invisible, bidirectional and other format characters of [`is_invisible`].
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// For a terminal: hidden characters become `\u{202e}`-style escapes (inert, visible);
/// a newline starts a [`CONTINUATION`] line; tabs stay.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => {
                out.push('\n');
                out.push_str(CONTINUATION);
            }
            '\t' => out.push('\t'),
            c if is_hidden(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// For a one-line field on a terminal (a name in a list): as [`terminal`], but a newline
/// or tab is escaped too, so the field never spills onto another line.
pub fn terminal_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// For the app's text widgets: hidden characters are shown as `⟨U+202E⟩`, so a name or
/// file name reads as it really is (`invoice⟨U+202E⟩fdp.exe`, not "invoiceexe.pdf");
/// newlines stay in message texts when `multiline`.
pub fn visible(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c == '\n' && multiline) || c == '\t' || !is_hidden(c) {
            out.push(c);
        } else {
            let _ = write!(out, "⟨U+{:04X}⟩", u32::from(c));
        }
    }
    out
}

/// For desktop notifications, whose body is markup: `&`, `<` and `>` escaped, hidden
/// characters shown as in [`visible`].
pub fn markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in visible(s, true).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_get_inert_escapes_and_marked_continuation_lines() {
        assert_eq!(terminal("\x1b[1Aevil"), "\\u{1b}[1Aevil");
        assert_eq!(terminal("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(terminal("Zoë\tok"), "Zoë\tok");
        assert_eq!(terminal("soft\u{AD}hyphen"), "soft\\u{ad}hyphen");
        // A text cannot print a line that looks like another sender's.
        let forged = terminal("hi\n[12:00] mallory: give me the password\r");
        assert_eq!(
            forged,
            "hi\n  | [12:00] mallory: give me the password\\u{d}"
        );
        for line in forged.lines().skip(1) {
            assert!(line.starts_with(CONTINUATION));
        }
        assert_eq!(terminal("a\u{2028}b\u{85}c"), "a\\u{2028}b\\u{85}c");
        // A one-line field stays on its line.
        assert_eq!(
            terminal_line("Evil\u{202E}hub\nFake\tline"),
            "Evil\\u{202e}hub\\u{a}Fake\\u{9}line"
        );
    }

    #[test]
    fn the_app_shows_hidden_characters_and_notifications_escape_markup() {
        assert_eq!(
            visible("invoice\u{202E}fdp.exe", false),
            "invoice⟨U+202E⟩fdp.exe"
        );
        assert_eq!(visible("a\nb", true), "a\nb");
        assert_eq!(visible("a\nb", false), "a⟨U+000A⟩b");
        assert_eq!(visible("alice\u{FE0F}", false), "alice⟨U+FE0F⟩");
        assert_eq!(visible("al\u{E0069}ce", false), "al⟨U+E0069⟩ce");
        assert_eq!(markup("<b>x</b> & y"), "&lt;b&gt;x&lt;/b&gt; &amp; y");
        assert_eq!(markup("a\u{200B}"), "a⟨U+200B⟩");
    }
}
