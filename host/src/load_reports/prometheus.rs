//! Prometheus text exposition format (the body an endpoint serves at `/metrics`), and
//! selecting values from it with configured series selectors.
//!
//! The reader is single-pass and allocates nothing per line: each sample line is checked
//! in place, and a selector's labels are compared against the line's escaped label values
//! without unescaping them. Its cost is linear in the input for a given set of selectors
//! (each line is rescanned once per label of each selector whose name it matches).
//!
//! Accepted syntax, per line (`\n` or `\r\n` separated):
//!
//! - blank lines, and lines whose first non-blank character is `#` (`# HELP`, `# TYPE`,
//!   comments, OpenMetrics `# EOF`), are skipped;
//! - `name value [timestamp]` and `name{label="value",...} value [timestamp]`, where
//!   `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`,
//!   label values are double-quoted with `\\`, `\"` and `\n` escapes (any other escaped
//!   character stands for itself, backslash included, as Prometheus reads it), a trailing
//!   comma and blanks around tokens are allowed, and an OpenMetrics exemplar
//!   (` # {...} ...`) after the value or timestamp is ignored;
//! - values as Prometheus writes them: decimal and exponent forms, `NaN`, `+Inf`,
//!   `-Inf`. The timestamp, if any, must be a number; it is not used.
//!
//! Anything else is a malformed line: skipped and counted. UTF-8 metric names quoted
//! inside the braces (Prometheus 3's `{"my.metric", ...}`) are not supported.

use std::fmt;
use std::str::FromStr;

/// A configured series selector: `name` or `name{label="value",other="x"}`.
///
/// A selector matches a series of the same name whose labels include all the selector's
/// labels; a bare name matches every series of that name. As in PromQL, a label with an
/// empty value (`label=""`) matches series where that label is empty or absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The metric name, e.g. `vllm:num_requests_waiting`.
    pub name: String,
    /// Label names and their (unescaped) values the series must have, in the order given.
    pub labels: Vec<(String, String)>,
}

impl FromStr for Selector {
    type Err = String;

    /// Parses `name` or `name{label="value",...}`: only `=` matchers; label values are
    /// double-quoted with the escapes `\"`, `\\` and `\n`; blanks around tokens and a
    /// trailing comma are allowed; a label may appear only once.
    fn from_str(text: &str) -> Result<Self, String> {
        let source = text.trim();
        if source.is_empty() {
            return Err(
                "empty selector: expected a metric name such as `requests_total` or \
                 `requests_total{code=\"200\"}`"
                    .into(),
            );
        }
        let bytes = source.as_bytes();
        let name_len = bytes
            .iter()
            .enumerate()
            .take_while(|&(i, &b)| is_metric_name_byte(b, i == 0))
            .count();
        if name_len == 0 {
            return Err(format!(
                "selector {source:?} does not start with a metric name \
                 (letters, digits, `_` and `:`, not starting with a digit)"
            ));
        }
        let name = &source[..name_len];
        let rest = source[name_len..].trim_start();
        let mut selector = Selector {
            name: name.to_owned(),
            labels: Vec::new(),
        };
        if rest.is_empty() {
            return Ok(selector);
        }
        let Some(mut rest) = rest.strip_prefix('{') else {
            return Err(format!(
                "selector {source:?}: unexpected {rest:?} after the metric name `{name}` \
                 (expected `{{` or the end; metric names hold only letters, digits, `_` and `:`)"
            ));
        };
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                if !after.trim().is_empty() {
                    return Err(format!(
                        "selector {source:?}: unexpected {:?} after the closing `}}`",
                        after.trim()
                    ));
                }
                return Ok(selector);
            }
            let label_len = rest
                .bytes()
                .enumerate()
                .take_while(|&(i, b)| is_label_name_byte(b, i == 0))
                .count();
            if label_len == 0 {
                return Err(if rest.is_empty() {
                    format!("selector {source:?}: missing the closing `}}`")
                } else {
                    format!(
                        "selector {source:?}: expected a label name (letters, digits and `_`, \
                         not starting with a digit) or `}}` at {:?}",
                        clip(rest)
                    )
                });
            }
            let label = &rest[..label_len];
            rest = rest[label_len..].trim_start();
            if rest.starts_with("!=") || rest.starts_with("=~") || rest.starts_with("!~") {
                return Err(format!(
                    "selector {source:?}: label `{label}` uses `{}`; only `=` matchers are supported",
                    &rest[..2]
                ));
            }
            let Some(after_eq) = rest.strip_prefix('=') else {
                return Err(format!(
                    "selector {source:?}: expected `=` after the label name `{label}`"
                ));
            };
            rest = after_eq.trim_start();
            let Some(quoted) = rest.strip_prefix('"') else {
                return Err(format!(
                    "selector {source:?}: the value of label `{label}` must be a double-quoted string"
                ));
            };
            let (value, after_value) = unescape_quoted(quoted)
                .map_err(|problem| format!("selector {source:?}: label `{label}`: {problem}"))?;
            if selector.labels.iter().any(|(l, _)| l == label) {
                return Err(format!(
                    "selector {source:?}: label `{label}` appears more than once"
                ));
            }
            selector.labels.push((label.to_owned(), value));
            rest = after_value.trim_start();
            if let Some(after_comma) = rest.strip_prefix(',') {
                rest = after_comma;
            } else if !rest.starts_with('}') {
                return Err(if rest.is_empty() {
                    format!("selector {source:?}: missing the closing `}}`")
                } else {
                    format!(
                        "selector {source:?}: expected `,` or `}}` after the value of label \
                         `{label}`, found {:?}",
                        clip(rest)
                    )
                });
            }
        }
    }
}

impl fmt::Display for Selector {
    /// Writes the selector back canonically: no blanks, labels in their order, values
    /// escaped with `\\`, `\"` and `\n`, no braces when there are no labels.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (label, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{label}=\"")?;
            for c in value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => fmt::Write::write_char(f, c)?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// The result of [`select`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// For each selector, in order: the sum of the values of the series it matched, or
    /// `None` when it matched none (NaN samples do not count as matches).
    pub values: Vec<Option<f64>>,
    /// How many non-blank, non-comment lines were not valid samples (and were skipped).
    pub malformed_lines: usize,
}

/// For each selector, the sum of the values of the series it matches in `text`, or
/// `None` when none matched. A selector matches a series of the same name whose labels
/// include all the selector's labels (a bare name matches every series of that name).
/// `# HELP`, `# TYPE` and other comment lines are skipped; samples are
/// `name{labels} value [timestamp]`, values as Prometheus writes them (`NaN`, `+Inf`,
/// `-Inf`, exponent forms); NaN samples are skipped. Malformed lines are skipped and
/// counted. A sum of `+Inf` and `-Inf` samples is NaN.
pub fn select(text: &str, selectors: &[Selector]) -> Selection {
    let mut values = vec![None; selectors.len()];
    let mut malformed_lines = 0;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(sample) = Sample::parse(line.as_bytes()) else {
            malformed_lines += 1;
            continue;
        };
        if sample.value.is_nan() {
            continue;
        }
        for (selector, sum) in selectors.iter().zip(values.iter_mut()) {
            if selector.name.as_bytes() == sample.name
                && selector
                    .labels
                    .iter()
                    .all(|(label, value)| sample.has_label(label, value))
            {
                *sum.get_or_insert(0.0) += sample.value;
            }
        }
    }
    Selection {
        values,
        malformed_lines,
    }
}

/// One checked sample line.
struct Sample<'a> {
    name: &'a [u8],
    /// From just after `{` to just after `}`; empty without labels.
    labels: &'a [u8],
    value: f64,
}

impl<'a> Sample<'a> {
    /// Parses a sample line (not blank, not a comment, leading blanks removed).
    fn parse(line: &'a [u8]) -> Option<Self> {
        let name_len = line
            .iter()
            .enumerate()
            .take_while(|&(i, &b)| is_metric_name_byte(b, i == 0))
            .count();
        if name_len == 0 {
            return None;
        }
        let name = &line[..name_len];
        let mut at = skip_blanks(line, name_len);
        let mut labels: &[u8] = &[];
        if line.get(at) == Some(&b'{') {
            let mut walk = Labels::new(&line[at + 1..]);
            while walk.next_label().ok()?.is_some() {}
            labels = &line[at + 1..at + 1 + walk.at];
            at = skip_blanks(line, at + 1 + walk.at);
        } else if at == name_len {
            // No blank between the name and what follows it.
            return None;
        }
        let (value, at) = token(line, at);
        let value = parse_number(value)?;
        let at = skip_blanks(line, at);
        let (timestamp, after) = token(line, at);
        if !timestamp.is_empty() && timestamp[0] != b'#' {
            parse_number(timestamp).filter(|t| t.is_finite())?;
            let at = skip_blanks(line, after);
            if at < line.len() && line[at] != b'#' {
                return None;
            }
        }
        Some(Sample {
            name,
            labels,
            value,
        })
    }

    /// Whether the sample has label `name` with value `want` (for an empty `want`: the
    /// label is empty or absent).
    fn has_label(&self, name: &str, want: &str) -> bool {
        let mut walk = Labels::new(self.labels);
        while let Ok(Some((label, raw))) = walk.next_label() {
            if label == name.as_bytes() {
                return escaped_eq(raw, want.as_bytes());
            }
        }
        want.is_empty()
    }
}

/// A label's name and raw (still escaped) value.
type Label<'a> = (&'a [u8], &'a [u8]);

/// A label set's syntax is broken.
struct Malformed;

/// Walks a label set, from just after its `{`, checking its syntax.
struct Labels<'a> {
    bytes: &'a [u8],
    /// Offset of the next unread byte; just after `}` once the walk has ended.
    at: usize,
    done: bool,
}

impl<'a> Labels<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Labels {
            bytes,
            at: 0,
            done: false,
        }
    }

    /// The next label's name and raw (still escaped) value; `Ok(None)` after the closing
    /// `}`; `Err` if the syntax is broken.
    fn next_label(&mut self) -> Result<Option<Label<'a>>, Malformed> {
        if self.done {
            return Ok(None);
        }
        let b = self.bytes;
        let mut at = skip_blanks(b, self.at);
        if b.get(at) == Some(&b'}') {
            self.at = at + 1;
            self.done = true;
            return Ok(None);
        }
        let name_start = at;
        while at < b.len() && is_label_name_byte(b[at], at == name_start) {
            at += 1;
        }
        if at == name_start {
            return Err(Malformed);
        }
        let name = &b[name_start..at];
        at = skip_blanks(b, at);
        if b.get(at) != Some(&b'=') {
            return Err(Malformed);
        }
        at = skip_blanks(b, at + 1);
        if b.get(at) != Some(&b'"') {
            return Err(Malformed);
        }
        at += 1;
        let value_start = at;
        loop {
            match b.get(at) {
                None => return Err(Malformed),
                Some(b'"') => break,
                // UTF-8 continuation bytes are never `"` or `\`, so stepping over the
                // escaped byte cannot land on a delimiter.
                Some(b'\\') => at += 2,
                Some(_) => at += 1,
            }
        }
        let value = &b[value_start..at];
        at = skip_blanks(b, at + 1);
        match b.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => {}
            _ => return Err(Malformed),
        }
        self.at = at;
        Ok(Some((name, value)))
    }
}

/// Whether the escaped label value `raw` (between its quotes) unescapes to `want`.
fn escaped_eq(raw: &[u8], want: &[u8]) -> bool {
    let mut want = want.iter();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            let escaped = raw[i + 1];
            i += 2;
            let ok = match escaped {
                b'\\' => want.next() == Some(&b'\\'),
                b'"' => want.next() == Some(&b'"'),
                b'n' => want.next() == Some(&b'\n'),
                other => want.next() == Some(&b'\\') && want.next() == Some(&other),
            };
            if !ok {
                return false;
            }
        } else {
            if want.next() != Some(&raw[i]) {
                return false;
            }
            i += 1;
        }
    }
    want.next().is_none()
}

/// Unescapes a double-quoted selector label value, given what follows its opening quote;
/// returns it and what follows its closing quote.
fn unescape_quoted(quoted: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &quoted[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => {
                    return Err(format!(
                        "unknown escape `\\{other}` in the value (use `\\\\`, `\\\"` or `\\n`)"
                    ));
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("the value has no closing `\"`".into())
}

/// At most 32 characters of `s`, for an error message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(32) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

fn is_metric_name_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

fn is_label_name_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (!first && b.is_ascii_digit())
}

fn skip_blanks(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t') {
        at += 1;
    }
    at
}

/// The token starting at `at` (up to a blank or the end) and the offset after it.
fn token(bytes: &[u8], at: usize) -> (&[u8], usize) {
    let at = at.min(bytes.len());
    let len = bytes[at..]
        .iter()
        .take_while(|&&b| !matches!(b, b' ' | b'\t'))
        .count();
    (&bytes[at..at + len], at + len)
}

/// A sample value or timestamp: decimal or exponent forms, `NaN`, `+Inf`, `-Inf`.
fn parse_number(token: &[u8]) -> Option<f64> {
    std::str::from_utf8(token).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn values(text: &str, selectors: &[&str]) -> Vec<Option<f64>> {
        let selectors: Vec<Selector> = selectors.iter().map(|s| sel(s)).collect();
        select(text, &selectors).values
    }

    const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
vllm:num_requests_waiting{engine="0",model_name="other"} 100.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4225
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.234567e+06
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.005",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 17.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 17.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.2345e-01
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",gpu_memory_utilization="0.9",num_gpu_blocks="None"} 1.0
"#;

    const NODE_EXPORTER: &str = "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
# TYPE node_cpu_seconds_total counter\n\
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 2.58877297e+06\n\
node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1234.5\n\
node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 2.5e+06\n\
node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 765.5\n\
# HELP node_load1 1m load average.\n\
# TYPE node_load1 gauge\n\
node_load1 0.52\n\
# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.\n\
# TYPE node_memory_MemAvailable_bytes gauge\n\
node_memory_MemAvailable_bytes 1.2345678e+10\n\
node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 5.0e+10\n\
# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.\n\
# TYPE go_gc_duration_seconds summary\n\
go_gc_duration_seconds{quantile=\"0\"} 3.2e-05\n\
go_gc_duration_seconds{quantile=\"1\"} NaN\n\
go_gc_duration_seconds_sum 0.0123\n\
go_gc_duration_seconds_count 42\n\
process_max_fds 1.048576e+06\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n";

    #[test]
    fn vllm_snippet() {
        let got = values(
            VLLM,
            &[
                r#"vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"}"#,
                "vllm:num_requests_waiting",
                r#"vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"}"#,
                r#"vllm:kv_cache_usage_perc{engine="0"}"#,
                "vllm:prompt_tokens_total",
                r#"vllm:time_to_first_token_seconds_bucket{le="+Inf"}"#,
                r#"vllm:cache_config_info{block_size="16"}"#,
                r#"vllm:num_requests_waiting{model_name="absent"}"#,
                "vllm:num_requests_swapped",
            ],
        );
        assert_eq!(
            got,
            [
                Some(7.0),
                Some(107.0),
                Some(2.0),
                Some(0.4225),
                Some(1_234_567.0),
                Some(17.0),
                Some(1.0),
                None,
                None,
            ]
        );
        assert_eq!(select(VLLM, &[]).malformed_lines, 0);
    }

    #[test]
    fn node_exporter_snippet() {
        let got = values(
            NODE_EXPORTER,
            &[
                r#"node_cpu_seconds_total{mode="idle"}"#,
                r#"node_cpu_seconds_total{cpu="1",mode="user"}"#,
                r#"node_cpu_seconds_total{mode="user", cpu="1"}"#,
                "node_load1",
                "node_memory_MemAvailable_bytes",
                r#"node_filesystem_avail_bytes{mountpoint="/"}"#,
                r#"go_gc_duration_seconds{quantile="1"}"#,
                "go_gc_duration_seconds",
                "go_gc_duration_seconds_count",
                "http_requests_total",
                r#"http_requests_total{code="400"}"#,
                "node_load",
                "node_load15",
            ],
        );
        assert_eq!(
            got,
            [
                Some(2.58877297e6 + 2.5e6),
                Some(765.5),
                Some(765.5),
                Some(0.52),
                Some(1.2345678e10),
                Some(5.0e10),
                None, // only a NaN sample
                Some(3.2e-5),
                Some(42.0),
                Some(1030.0),
                Some(3.0),
                None,
                None,
            ]
        );
        assert_eq!(select(NODE_EXPORTER, &[]).malformed_lines, 0);
    }

    #[test]
    fn special_values_and_forms() {
        let text = "a +Inf\nb -Inf\nc 1e3\nd -2.5E-1\ne .5\nf NaN\nf 1\ng 0x10\nh 1_000\n\
                    i{} 4\nj { x = \"1\" , } 5\n\tk 6 \r\nl{x=\"1\"}7\nm 1 2 # {trace_id=\"a\"} 1\n\
                    n 1 # {trace_id=\"a\"} 1\no 1 1.7e9\n";
        let got = values(
            text,
            &[
                "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
            ],
        );
        assert_eq!(
            got,
            [
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
                Some(1000.0),
                Some(-0.25),
                Some(0.5),
                Some(1.0),
                None,
                None,
                Some(4.0),
                Some(5.0),
                Some(6.0),
                Some(7.0),
                Some(1.0),
                Some(1.0),
                Some(1.0),
            ]
        );
        assert_eq!(select(text, &[]).malformed_lines, 2);
    }

    #[test]
    fn sums_and_subset_matching() {
        let text = "q{a=\"1\",b=\"x\"} 1\nq{a=\"1\",b=\"y\"} 2\nq{a=\"2\",b=\"x\"} 4\nq 8\n\
                    q{a=\"\",b=\"x\"} 16\nqq{a=\"1\"} 32\n";
        let got = values(
            text,
            &[
                "q",
                r#"q{a="1"}"#,
                r#"q{b="x"}"#,
                r#"q{a="1",b="x"}"#,
                r#"q{b="x",a="1"}"#,
                r#"q{a="1",c="z"}"#,
                r#"q{a=""}"#,
                r#"q{c=""}"#,
                "qq",
            ],
        );
        assert_eq!(
            got,
            [
                Some(31.0),
                Some(3.0),
                Some(21.0),
                Some(1.0),
                Some(1.0),
                None,
                Some(24.0),
                Some(31.0),
                Some(32.0),
            ]
        );
    }

    #[test]
    fn escaped_label_values() {
        let text = concat!(
            r#"m{path="a,b}c",x="1"} 1"#,
            "\n",
            r#"m{path="say \"hi\"",x="2"} 2"#,
            "\n",
            r#"m{path="back\\slash",x="3"} 4"#,
            "\n",
            r#"m{path="two\nlines",x="4"} 8"#,
            "\n",
            r#"m{path="tab\t",x="5"} 16"#,
            "\n",
            r#"m{path="ünï\"cødé}",x="6"} 32"#,
            "\n",
            r#"m{path="\\",x="7"} 64"#,
            "\n",
        );
        let got = values(
            text,
            &[
                r#"m{path="a,b}c"}"#,
                r#"m{path="say \"hi\""}"#,
                r#"m{path="back\\slash"}"#,
                r#"m{path="two\nlines"}"#,
                r#"m{path="tab\\t"}"#,
                r#"m{path="ünï\"cødé}"}"#,
                r#"m{path="\\"}"#,
                r#"m{path="say "}"#,
                r#"m{x="7"}"#,
            ],
        );
        assert_eq!(
            got,
            [
                Some(1.0),
                Some(2.0),
                Some(4.0),
                Some(8.0),
                Some(16.0),
                Some(32.0),
                Some(64.0),
                None,
                Some(64.0),
            ]
        );
        assert_eq!(select(text, &[]).malformed_lines, 0);
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        let text = "ok 1\n\
                    1bad 2\n\
                    bad-name 3\n\
                    no_value\n\
                    no_value{a=\"1\"}\n\
                    bad_value abc\n\
                    ok{a=\"1\" 4\n\
                    ok{a=\"unterminated} 5\n\
                    ok{a=1} 6\n\
                    ok{1a=\"x\"} 7\n\
                    ok{a=\"1\"b=\"2\"} 8\n\
                    ok{,} 9\n\
                    ok{a=\"1\",,} 10\n\
                    ok 11 notatimestamp\n\
                    ok 12 13 extra\n\
                    ok{a!=\"1\"} 14\n\
                    \"quoted\" 15\n\
                    {\"utf8.name\"} 16\n\
                    \n   \n  # indented comment\n#EOF\nok 100\n";
        let selection = select(text, &[sel("ok")]);
        assert_eq!(selection.values, [Some(101.0)]);
        assert_eq!(selection.malformed_lines, 17);
        assert_eq!(select("", &[sel("ok")]).values, [None]);
    }

    #[test]
    fn pathological_input_is_linear() {
        // One line with 200k labels, matched by a selector with several labels: a
        // quadratic scan would not finish.
        let mut line = String::from("big{");
        for i in 0..200_000 {
            line.push_str(&format!("l{i}=\"v\","));
        }
        line.push_str("z=\"1\"} 1\n");
        let selectors = [
            sel(r#"big{z="1",l0="v",l199999="v"}"#),
            sel(r#"big{nope="1"}"#),
        ];
        assert_eq!(select(&line, &selectors).values, [Some(1.0), None]);

        // Lines that are all escapes or open quotes.
        let escapes = format!("e{{a=\"{}\"}} 1\n", "\\\\".repeat(500_000));
        assert_eq!(
            select(&escapes, &[sel("e{a=\"x\"}"), sel("e")]).values,
            [None, Some(1.0)]
        );
        let unterminated = format!("u{{a=\"{}\n", "\\\"".repeat(500_000));
        assert_eq!(select(&unterminated, &[sel("u")]).malformed_lines, 1);
        let braces = "{".repeat(1_000_000);
        assert_eq!(select(&braces, &[sel("u")]).malformed_lines, 1);
        let many_lines = "x{a=\"1\"} 1\n".repeat(200_000);
        assert_eq!(
            select(&many_lines, &[sel(r#"x{a="1"}"#)]).values,
            [Some(200_000.0)]
        );
    }

    #[test]
    fn selector_parse_and_display() {
        let s = sel(r#"  vllm:num_requests_waiting { model_name = "m" , engine="0", } "#);
        assert_eq!(
            s,
            Selector {
                name: "vllm:num_requests_waiting".into(),
                labels: vec![
                    ("model_name".into(), "m".into()),
                    ("engine".into(), "0".into())
                ],
            }
        );
        assert_eq!(
            s.to_string(),
            r#"vllm:num_requests_waiting{model_name="m",engine="0"}"#
        );
        assert_eq!(sel("up{}").to_string(), "up");
        assert_eq!(sel("_x:y_1").labels, []);
        let escaped = sel(r#"m{a="q\"b\\s\nn,}"}"#);
        assert_eq!(escaped.labels[0].1, "q\"b\\s\nn,}");
        assert_eq!(escaped.to_string(), r#"m{a="q\"b\\s\nn,}"}"#);
        for text in ["m", r#"m{a="1"}"#, r#"m{a="",b="ünï"}"#, r#"m{a="\\\"\n"}"#] {
            let parsed = sel(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(sel(&parsed.to_string()), parsed);
        }
    }

    #[test]
    fn selector_parse_errors() {
        let cases = [
            ("", "empty selector"),
            ("   ", "empty selector"),
            ("1abc", "does not start with a metric name"),
            ("{a=\"1\"}", "does not start with a metric name"),
            ("m-x", "unexpected \"-x\" after the metric name `m`"),
            ("m x", "unexpected \"x\""),
            ("m{", "missing the closing `}`"),
            ("m{a=\"1\"", "missing the closing `}`"),
            ("m{a=\"1\",", "missing the closing `}`"),
            ("m{a=\"1\"} x", "unexpected \"x\" after the closing `}`"),
            ("m{a}", "expected `=` after the label name `a`"),
            ("m{a!=\"1\"}", "only `=` matchers are supported"),
            ("m{a=~\"1\"}", "uses `=~`"),
            ("m{a=1}", "must be a double-quoted string"),
            ("m{a=\"1}", "no closing `\"`"),
            ("m{a=\"\\t\"}", "unknown escape `\\t`"),
            (
                "m{a=\"1\" b=\"2\"}",
                "expected `,` or `}` after the value of label `a`",
            ),
            ("m{a=\"1\",a=\"2\"}", "label `a` appears more than once"),
            ("m{1a=\"1\"}", "expected a label name"),
            ("m{,}", "expected a label name"),
            ("m{a.b=\"1\"}", "expected `=` after the label name `a`"),
        ];
        for (text, needle) in cases {
            let error = text.parse::<Selector>().unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn escaped_eq_cases() {
        assert!(escaped_eq(b"", b""));
        assert!(escaped_eq(br#"a\"b"#, b"a\"b"));
        assert!(escaped_eq(br"a\\b", b"a\\b"));
        assert!(escaped_eq(br"a\nb", b"a\nb"));
        assert!(escaped_eq(br"a\tb", b"a\\tb"));
        assert!(!escaped_eq(br"a\nb", b"a\\nb"));
        assert!(!escaped_eq(b"ab", b"abc"));
        assert!(!escaped_eq(b"abc", b"ab"));
    }
}
