//! A process's output as text and as JSON lines (what `--json` prints).

use std::io::BufRead;

/// `bytes` (a process's stdout or stderr) as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Each line of `bytes` as JSON; a line that is not JSON fails the test.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    text(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Reads JSON lines from `out` until one matches `pred`, and returns it (the lines
/// before it are dropped). The stream ending first, or a line that is not JSON, fails
/// the test.
pub fn until_line(
    out: &mut impl BufRead,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("reading a JSON line");
        assert!(n > 0, "stream ended");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        if pred(&v) {
            return v;
        }
    }
}
