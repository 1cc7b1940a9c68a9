//! Log lines on stderr: coloured for a person at a terminal; otherwise (a pipe, a file, the
//! journal) one line per event with no colour codes, so that `grep` and `journalctl` see each
//! event whole. Under systemd's journal (`$JOURNAL_STREAM` names our stderr) a line carries
//! no timestamp (the journal adds its own) and starts with its syslog priority (`<4>` for a
//! warning), so `journalctl -p warning` finds the warnings.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Sends log events to stderr, those at `default` and above unless `RUST_LOG` says
/// otherwise.
pub(crate) fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.with_ansi(true).with_target(false).init();
    } else {
        builder
            .with_ansi(false)
            .event_format(OneLine { journal: journal() })
            .init();
    }
}

/// Whether stderr is systemd's journal: `$JOURNAL_STREAM` is `DEVICE:INODE` of the stream it
/// gave us (a child whose stderr went elsewhere inherits the variable, so it is compared).
fn journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        use std::os::unix::fs::MetadataExt as _;
        let ours = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .and_then(|fd| std::fs::File::from(fd).metadata());
        ours.is_ok_and(|m| stream.to_str() == Some(&format!("{}:{}", m.dev(), m.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        false
    }
}

/// One event, one line: `TIME LEVEL spans: message fields`, or under the journal
/// `<PRIORITY>spans: message fields`. Control characters in it (a newline or an escape in
/// something a client sent) are escaped (`\u{1b}`), so an event never spans lines and never
/// colours or moves anything.
struct OneLine {
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for OneLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        let mut line = String::new();
        if self.journal {
            // sd-daemon(3): <3> error, <4> warning, <6> info, <7> debug.
            let priority = match level {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                Level::DEBUG | Level::TRACE => 7,
            };
            write!(line, "<{priority}>")?;
        } else {
            SystemTime.format_time(&mut Writer::new(&mut line))?;
            write!(line, " {level:>5} ")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                line.push_str(span.name());
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(line, "{{{fields}}}")?;
                }
                line.push_str(": ");
            }
        }
        let mut fields = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut fields), event)?;
        line.push_str(&fields);
        writeln!(writer, "{}", courier_core::text::terminal_line(&line))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::OneLine;

    /// A log destination the test reads back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(journal: bool) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(OneLine { journal })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let name = "eve\n2026-01-01T00:00:00Z  INFO forged\u{1b}[31m";
            let span = tracing::info_span!("conn", id = 7);
            let _in = span.enter();
            tracing::warn!(%name, "logged in as {name}");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn an_event_with_newlines_and_escapes_in_it_stays_one_inert_line() {
        let text = logged(false);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains(" WARN conn{id=7}: logged in as eve\\u{a}2026"),
            "{text}"
        );
        let text = logged(true);
        assert!(
            text.starts_with("<4>conn{id=7}: logged in as eve\\u{a}"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
