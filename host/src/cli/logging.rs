//! Where log lines go: stderr, as text or one JSON object per line, filtered by
//! `RUST_LOG` (else a default the command chooses: `info`, `warn` for the demo). Text is coloured only on a terminal, and never when
//! `NO_COLOR` is set (no-color.org), so log files hold no escape codes.

use crate::config::model::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber, filtered by `RUST_LOG` or else by
/// `default_filter`. Only the first call has an effect.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
