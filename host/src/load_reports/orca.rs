//! ORCA (Open Request Cost Aggregation) per-request load reports, as an upstream
//! attaches them to a response.
//!
//! Two headers carry a report:
//!
//! - [`BIN_HEADER`] (`endpoint-load-metrics-bin`): gRPC binary metadata, i.e. the base64
//!   of a serialized `xds.data.orca.v3.OrcaLoadReport` protobuf. Padding is optional
//!   (grpc-go omits it). [`parse_bin`] reads it.
//! - [`TEXT_HEADER`] (`endpoint-load-metrics`): a format prefix and a body, as Envoy
//!   reads it: `TEXT cpu_utilization=0.3, named_metrics.foo=2` (`:` may stand for `=`),
//!   `JSON {"cpu_utilization": 0.3, "named_metrics": {"foo": 2}}` (proto3 JSON names,
//!   snake_case or lowerCamelCase), or `BIN <base64 protobuf>`. [`parse_text`] reads it.
//!
//! Both parsers deliver each metric present in the report to a callback, and deliver
//! nothing when the report is malformed: the whole report is read and checked first,
//! into a small fixed structure, and only then delivered. The binary path allocates
//! nothing unless the report is unusually large (over 1 KiB decoded, or more than 16
//! named metrics); the JSON path allocates.
//!
//! What counts as malformed: broken base64 or protobuf, a known field with the wrong
//! wire type, a metric value that is NaN, infinite or negative (utilizations above 1.0
//! are allowed), a named-metric key that is empty, longer than [`MAX_NAME_LEN`] bytes,
//! not UTF-8 or holds control characters, an unknown metric name or a repeated metric in
//! the TEXT and JSON forms, and a header value longer than [`MAX_VALUE_LEN`] bytes.
//!
//! The protobuf maps `utilization` (field 5) and `request_cost` (field 4), and their
//! TEXT (`utilization.NAME`, `request_cost.NAME`) and JSON spellings, are checked for
//! well-formedness but otherwise ignored: they are not named metrics and are never
//! delivered.
//!
//! "Present" in the binary form means "encoded": proto3 encoders omit fields whose value
//! is zero, so a report from one never delivers a zero for a plain field (only map
//! entries and explicitly encoded zeros are delivered as zero).

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Name of the header carrying a base64 serialized `OrcaLoadReport` (gRPC binary
/// metadata); read by [`parse_bin`].
pub const BIN_HEADER: &str = "endpoint-load-metrics-bin";

/// Name of the header carrying a `TEXT `, `JSON ` or `BIN ` prefixed report; read by
/// [`parse_text`].
pub const TEXT_HEADER: &str = "endpoint-load-metrics";

/// Longest header value either parser accepts, in bytes; longer values are
/// [`OrcaError::TooLong`].
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// Longest named-metric key accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Decoded reports up to this size are decoded into a stack buffer.
const STACK_DECODE_LEN: usize = 1024;

/// Named metrics up to this count are held inline, without allocating.
const INLINE_NAMED: usize = 16;

/// Longest piece of an offending input quoted in an error message, in bytes.
const SNIPPET_LEN: usize = 64;

/// Standard alphabet; padding optional; lenient about non-zero trailing bits.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// One field of a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    /// `cpu_utilization`: fraction of available CPU in use (may exceed 1.0).
    CpuUtilization,
    /// `mem_utilization`: fraction of available memory in use.
    MemUtilization,
    /// `application_utilization`: application-defined utilization (may exceed 1.0).
    ApplicationUtilization,
    /// `rps_fractional`: requests per second the endpoint serves; also carries the
    /// deprecated integer `rps` field when `rps_fractional` is absent.
    RpsFractional,
    /// `eps`: errors per second the endpoint serves.
    Eps,
    /// An entry of `named_metrics`: an application-specific metric, by its key.
    Named(&'a str),
}

impl Field<'_> {
    /// The metric name policies use: `cpu_utilization`, `mem_utilization`,
    /// `application_utilization`, `rps_fractional`, `eps`, or `named_metrics.NAME`.
    /// Allocates for [`Field::Named`]; meant for display and tests.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            Field::CpuUtilization => Cow::Borrowed("cpu_utilization"),
            Field::MemUtilization => Cow::Borrowed("mem_utilization"),
            Field::ApplicationUtilization => Cow::Borrowed("application_utilization"),
            Field::RpsFractional => Cow::Borrowed("rps_fractional"),
            Field::Eps => Cow::Borrowed("eps"),
            Field::Named(name) => Cow::Owned(format!("named_metrics.{name}")),
        }
    }
}

/// Why a report is malformed (and so ignored as a whole).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum OrcaError {
    /// The header value (or the body after a `BIN ` prefix) is empty.
    #[error("ORCA load report header value is empty")]
    Empty,
    /// The header value is over [`MAX_VALUE_LEN`] bytes long.
    #[error("ORCA load report header value is {0} bytes long, over the {MAX_VALUE_LEN}-byte limit")]
    TooLong(usize),
    /// An `endpoint-load-metrics` value without a known format prefix.
    #[error(
        "ORCA load report header value starts with {0:?}, not one of the format prefixes `TEXT `, `JSON ` or `BIN `"
    )]
    UnknownFormat(String),
    /// The binary form is not base64 (standard alphabet, padding optional).
    #[error("ORCA binary load report is not valid base64")]
    Base64,
    /// The decoded binary form is not a well-formed protobuf message.
    #[error("ORCA binary load report is not a valid OrcaLoadReport protobuf: {0}")]
    Protobuf(&'static str),
    /// A known protobuf field is encoded with a wire type its declared type cannot have.
    #[error(
        "ORCA binary load report is not a valid OrcaLoadReport protobuf: field {field} has wire type {wire_type}, which does not match its type"
    )]
    WireType {
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
    },
    /// The `JSON ` form is not valid JSON or does not have the report's shape.
    #[error("ORCA JSON load report is malformed: {0}")]
    Json(String),
    /// A `TEXT ` entry with nothing before its `=`.
    #[error("ORCA TEXT load report has an entry with an empty metric name")]
    EmptyMetricName,
    /// A metric name the format does not define.
    #[error("unsupported ORCA metric name {0:?}")]
    UnsupportedMetric(String),
    /// A metric given twice in the `TEXT ` or `JSON ` form.
    #[error("ORCA metric {0:?} appears more than once")]
    DuplicateMetric(String),
    /// A named-metric (or ignored map) key that is empty, too long or holds control
    /// characters.
    #[error("invalid ORCA metric key {key:?}: {reason}")]
    InvalidKey {
        /// The key (possibly shortened).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `TEXT ` entry without a value.
    #[error("ORCA metric {0:?} has no value")]
    MissingValue(String),
    /// A value that does not parse as a number.
    #[error("ORCA metric {metric:?} has value {value:?}, which is not a number")]
    BadNumber {
        /// The metric's name.
        metric: String,
        /// The value given (possibly shortened).
        value: String,
    },
    /// A value that is NaN, infinite or negative.
    #[error("ORCA metric {metric:?} is {problem}; values must be finite and non-negative")]
    InvalidValue {
        /// The metric's name.
        metric: String,
        /// `NaN`, `infinite` or `negative`.
        problem: &'static str,
    },
}

/// Parses the value of `endpoint-load-metrics-bin`; calls `each` for every field present.
/// Returns the number of fields delivered, or why the value is malformed; on error
/// `each` has not been called.
///
/// A named metric given more than once keeps its last value (protobuf map semantics);
/// the deprecated integer `rps` is delivered as [`Field::RpsFractional`] when
/// `rps_fractional` is absent. Unknown fields are skipped (groups are rejected).
pub fn parse_bin(value: &[u8], mut each: impl FnMut(Field<'_>, f64)) -> Result<usize, OrcaError> {
    check_len(value)?;
    parse_base64_report(value.trim_ascii(), &mut each)
}

/// Parses the value of `endpoint-load-metrics` (its `TEXT `, `JSON ` and `BIN ` forms);
/// calls `each` for every field present. Returns the number of fields delivered, or why
/// the value is malformed; on error `each` has not been called.
///
/// - `TEXT `: comma-separated `key=value` (or `key:value`) entries; keys
///   `cpu_utilization`, `mem_utilization`, `application_utilization`, `rps_fractional`,
///   `eps`, `named_metrics.NAME` (and `utilization.NAME`, `request_cost.NAME`, which are
///   checked and ignored). A key given twice, or any other key, is an error. An entry is
///   split at its first `=`, or at its first `:` when it has no `=`.
/// - `JSON `: an object with the proto3 JSON field names (snake_case or lowerCamelCase);
///   numbers may be JSON numbers or strings; `null` means absent; unknown fields are an
///   error.
/// - `BIN `: as [`parse_bin`].
pub fn parse_text(value: &[u8], mut each: impl FnMut(Field<'_>, f64)) -> Result<usize, OrcaError> {
    check_len(value)?;
    let value = value.trim_ascii();
    if let Some(body) = strip_format_prefix(value, b"TEXT") {
        let mut report = Report::default();
        parse_native(body, &mut report)?;
        Ok(report.deliver(&mut each))
    } else if let Some(body) = strip_format_prefix(value, b"JSON") {
        parse_json(body, &mut each)
    } else if let Some(body) = strip_format_prefix(value, b"BIN") {
        parse_base64_report(body.trim_ascii(), &mut each)
    } else {
        let head = &value[..value.len().min(5)];
        let head = head.split(|&b| b == b' ').next().unwrap_or_default();
        Err(OrcaError::UnknownFormat(snippet(head)))
    }
}

fn check_len(value: &[u8]) -> Result<(), OrcaError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(OrcaError::TooLong(value.len()));
    }
    Ok(())
}

/// The body after `prefix` and a space; also the empty body when the value is exactly
/// `prefix` (HTTP strips the trailing space of `TEXT `).
fn strip_format_prefix<'v>(value: &'v [u8], prefix: &[u8]) -> Option<&'v [u8]> {
    let rest = value.strip_prefix(prefix)?;
    match rest.split_first() {
        None => Some(rest),
        Some((b' ', body)) => Some(body),
        Some(_) => None,
    }
}

/// Up to [`SNIPPET_LEN`] bytes of `bytes`, for an error message.
fn snippet(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(SNIPPET_LEN)]);
    if bytes.len() > SNIPPET_LEN {
        format!("{head}…")
    } else {
        head.into_owned()
    }
}

fn field_error_name(field: Field<'_>) -> String {
    match field {
        Field::Named(name) => format!("named_metrics.{}", snippet(name.as_bytes())),
        other => other.name().into_owned(),
    }
}

/// What is wrong with a metric value, if anything.
fn value_problem(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value.is_infinite() {
        Some("infinite")
    } else if value < 0.0 {
        Some("negative")
    } else {
        None
    }
}

/// `value` if it is finite and non-negative.
fn check_value(field: Field<'_>, value: f64) -> Result<f64, OrcaError> {
    match value_problem(value) {
        None => Ok(value),
        Some(problem) => Err(OrcaError::InvalidValue {
            metric: field_error_name(field),
            problem,
        }),
    }
}

/// Checks the key and value of an entry of an ignored map (`utilization`,
/// `request_cost`); `metric` names it in errors.
fn check_ignored(metric: impl FnOnce() -> String, key: &str, value: f64) -> Result<(), OrcaError> {
    check_key(key)?;
    match value_problem(value) {
        None => Ok(()),
        Some(problem) => Err(OrcaError::InvalidValue {
            metric: metric(),
            problem,
        }),
    }
}

/// Checks a named-metric (or ignored map) key.
fn check_key(key: &str) -> Result<(), OrcaError> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.len() > MAX_NAME_LEN {
        "it is longer than 128 bytes"
    } else if key.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(OrcaError::InvalidKey {
        key: snippet(key.as_bytes()),
        reason,
    })
}

/// What to do when a metric is given again.
#[derive(Clone, Copy, PartialEq)]
enum Repeat {
    /// Keep the last value (protobuf semantics).
    Replace,
    /// The report is malformed (TEXT and JSON, as Envoy).
    Reject,
}

/// The order [`Report::fixed`] holds the plain fields in, which is also the delivery
/// order.
const FIXED: [Field<'static>; 5] = [
    Field::CpuUtilization,
    Field::MemUtilization,
    Field::ApplicationUtilization,
    Field::RpsFractional,
    Field::Eps,
];

/// Where [`Field::RpsFractional`] is in [`FIXED`].
const RPS_FRACTIONAL_SLOT: usize = 3;

fn fixed_index(field: Field<'_>) -> Option<usize> {
    match field {
        Field::CpuUtilization => Some(0),
        Field::MemUtilization => Some(1),
        Field::ApplicationUtilization => Some(2),
        Field::RpsFractional => Some(RPS_FRACTIONAL_SLOT),
        Field::Eps => Some(4),
        Field::Named(_) => None,
    }
}

/// A fully checked report, held until it is delivered.
#[derive(Default)]
struct Report<'a> {
    fixed: [Option<f64>; 5],
    /// The deprecated integer `rps` (binary and JSON forms only).
    rps: Option<u64>,
    named: Named<'a>,
}

impl<'a> Report<'a> {
    /// Records `field`, after checking its value (and key).
    fn set(&mut self, field: Field<'a>, value: f64, repeat: Repeat) -> Result<(), OrcaError> {
        let value = check_value(field, value)?;
        match fixed_index(field) {
            Some(i) => {
                if repeat == Repeat::Reject && self.fixed[i].is_some() {
                    return Err(OrcaError::DuplicateMetric(field_error_name(field)));
                }
                self.fixed[i] = Some(value);
                Ok(())
            }
            None => {
                let Field::Named(key) = field else {
                    unreachable!("every field but Named has a fixed slot")
                };
                check_key(key)?;
                if self.named.insert(key, value, repeat) {
                    Ok(())
                } else {
                    Err(OrcaError::DuplicateMetric(field_error_name(field)))
                }
            }
        }
    }

    /// Calls `each` for every field; returns how many.
    fn deliver(&self, each: &mut impl FnMut(Field<'_>, f64)) -> usize {
        let mut fixed = self.fixed;
        let rps_slot = &mut fixed[RPS_FRACTIONAL_SLOT];
        if rps_slot.is_none() {
            // u64 to f64 rounds very large counts; they stay finite and non-negative.
            *rps_slot = self.rps.map(|rps| rps as f64);
        }
        let mut count = 0;
        for (field, value) in FIXED.iter().zip(fixed) {
            if let Some(value) = value {
                each(*field, value);
                count += 1;
            }
        }
        for &(key, value) in self.named.entries() {
            each(Field::Named(key), value);
            count += 1;
        }
        count
    }
}

/// Named metrics in first-appearance order, unique by key: inline up to
/// [`INLINE_NAMED`], then in a vector indexed by a hash map.
struct Named<'a> {
    inline: [(&'a str, f64); INLINE_NAMED],
    inline_len: usize,
    /// Every entry once there are more than [`INLINE_NAMED`] (then `inline` is unused).
    spilled: Vec<(&'a str, f64)>,
    /// Positions in `spilled` by key, once it is in use.
    index: Option<HashMap<&'a str, usize>>,
}

impl Default for Named<'_> {
    fn default() -> Self {
        Named {
            inline: [("", 0.0); INLINE_NAMED],
            inline_len: 0,
            spilled: Vec::new(),
            index: None,
        }
    }
}

impl<'a> Named<'a> {
    /// Adds or (with [`Repeat::Replace`]) updates `key`; false when `key` is already
    /// present and `repeat` is [`Repeat::Reject`].
    fn insert(&mut self, key: &'a str, value: f64, repeat: Repeat) -> bool {
        if self.spilled.is_empty() {
            if let Some(entry) = self.inline[..self.inline_len]
                .iter_mut()
                .find(|(k, _)| *k == key)
            {
                entry.1 = value;
                return repeat == Repeat::Replace;
            }
            if self.inline_len < INLINE_NAMED {
                self.inline[self.inline_len] = (key, value);
                self.inline_len += 1;
                return true;
            }
            self.spilled.reserve(INLINE_NAMED * 2);
            self.spilled.extend_from_slice(&self.inline);
        }
        let index = self.index.get_or_insert_with(|| {
            self.spilled
                .iter()
                .enumerate()
                .map(|(i, &(k, _))| (k, i))
                .collect()
        });
        match index.get(key) {
            Some(&i) => {
                self.spilled[i].1 = value;
                repeat == Repeat::Replace
            }
            None => {
                index.insert(key, self.spilled.len());
                self.spilled.push((key, value));
                true
            }
        }
    }

    fn entries(&self) -> &[(&'a str, f64)] {
        if self.spilled.is_empty() {
            &self.inline[..self.inline_len]
        } else {
            &self.spilled
        }
    }
}

/// Decodes base64 (into a stack buffer when it fits) and parses the protobuf.
fn parse_base64_report(
    b64: &[u8],
    each: &mut impl FnMut(Field<'_>, f64),
) -> Result<usize, OrcaError> {
    if b64.is_empty() {
        return Err(OrcaError::Empty);
    }
    if base64::decoded_len_estimate(b64.len()) <= STACK_DECODE_LEN {
        let mut buf = [0u8; STACK_DECODE_LEN];
        let len = BASE64
            .decode_slice(b64, &mut buf)
            .map_err(|_| OrcaError::Base64)?;
        parse_protobuf(&buf[..len], each)
    } else {
        let buf = BASE64.decode(b64).map_err(|_| OrcaError::Base64)?;
        parse_protobuf(&buf, each)
    }
}

/// Parses a serialized `OrcaLoadReport`, then delivers it.
fn parse_protobuf(buf: &[u8], each: &mut impl FnMut(Field<'_>, f64)) -> Result<usize, OrcaError> {
    let mut report = Report::default();
    let mut reader = Reader(buf);
    while !reader.0.is_empty() {
        let (field, wire_type) = reader.tag()?;
        let plain = match field {
            1 => Some(Field::CpuUtilization),
            2 => Some(Field::MemUtilization),
            6 => Some(Field::RpsFractional),
            7 => Some(Field::Eps),
            9 => Some(Field::ApplicationUtilization),
            _ => None,
        };
        match (field, wire_type, plain) {
            (_, WIRE_FIXED64, Some(plain)) => {
                report.set(plain, reader.double()?, Repeat::Replace)?;
            }
            (3, WIRE_VARINT, _) => report.rps = Some(reader.varint()?),
            (4 | 5, WIRE_LEN, _) => {
                // request_cost, utilization: checked, then ignored.
                let (key, _) = map_entry(reader.bytes()?)?;
                check_key(key)?;
            }
            (8, WIRE_LEN, _) => {
                let (key, value) = map_entry(reader.bytes()?)?;
                report.set(Field::Named(key), value, Repeat::Replace)?;
            }
            (1..=9, _, _) => return Err(OrcaError::WireType { field, wire_type }),
            _ => reader.skip(wire_type)?,
        }
    }
    Ok(report.deliver(each))
}

/// The key and value of a serialized `map<string, double>` entry (defaults: `""`, 0).
fn map_entry(buf: &[u8]) -> Result<(&str, f64), OrcaError> {
    let mut reader = Reader(buf);
    let (mut key, mut value) = ("", 0.0);
    while !reader.0.is_empty() {
        match reader.tag()? {
            (1, WIRE_LEN) => {
                key = std::str::from_utf8(reader.bytes()?)
                    .map_err(|_| OrcaError::Protobuf("a map key is not valid UTF-8"))?;
            }
            (2, WIRE_FIXED64) => value = reader.double()?,
            (1 | 2, _) => {
                return Err(OrcaError::Protobuf(
                    "a map entry's key or value has the wrong wire type",
                ));
            }
            (_, wire_type) => reader.skip(wire_type)?,
        }
    }
    Ok((key, value))
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// Reads protobuf wire-format primitives off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, OrcaError> {
        let mut value = 0u64;
        for shift in 0..10 {
            let Some((&byte, rest)) = self.0.split_first() else {
                return Err(OrcaError::Protobuf("truncated varint"));
            };
            self.0 = rest;
            if shift == 9 && byte > 1 {
                return Err(OrcaError::Protobuf("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        unreachable!("the tenth byte either ends the varint or is rejected")
    }

    /// A field's number and wire type.
    fn tag(&mut self) -> Result<(u32, u8), OrcaError> {
        let tag = u32::try_from(self.varint()?)
            .map_err(|_| OrcaError::Protobuf("field tag overflows 32 bits"))?;
        if tag >> 3 == 0 {
            return Err(OrcaError::Protobuf("field number 0"));
        }
        Ok((tag >> 3, (tag & 7) as u8))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], OrcaError> {
        if len > self.0.len() {
            return Err(OrcaError::Protobuf(
                "a field runs past the end of the message",
            ));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn double(&mut self) -> Result<f64, OrcaError> {
        let bytes = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(le))
    }

    fn bytes(&mut self) -> Result<&'a [u8], OrcaError> {
        let len = usize::try_from(self.varint()?).unwrap_or(usize::MAX);
        self.take(len)
    }

    /// Skips the value of an unknown field.
    fn skip(&mut self, wire_type: u8) -> Result<(), OrcaError> {
        match wire_type {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.bytes().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            3 | 4 => Err(OrcaError::Protobuf(
                "groups (wire types 3 and 4) are not supported",
            )),
            _ => Err(OrcaError::Protobuf("invalid wire type")),
        }
    }
}

/// Parses the body of a `TEXT ` report into `report`.
fn parse_native<'a>(body: &'a [u8], report: &mut Report<'a>) -> Result<(), OrcaError> {
    for entry in body.split(|&b| b == b',') {
        let entry = entry.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let split = entry
            .iter()
            .position(|&b| b == b'=')
            .or_else(|| entry.iter().position(|&b| b == b':'));
        let (key, value) = match split {
            Some(at) => (entry[..at].trim_ascii(), entry[at + 1..].trim_ascii()),
            None => (entry, &b""[..]),
        };
        if key.is_empty() {
            return Err(OrcaError::EmptyMetricName);
        }
        // The fixed names are matched as bytes: no UTF-8 check for them.
        let fixed = match key {
            b"cpu_utilization" => Some((Field::CpuUtilization, "cpu_utilization")),
            b"mem_utilization" => Some((Field::MemUtilization, "mem_utilization")),
            b"application_utilization" => {
                Some((Field::ApplicationUtilization, "application_utilization"))
            }
            b"rps_fractional" => Some((Field::RpsFractional, "rps_fractional")),
            b"eps" => Some((Field::Eps, "eps")),
            _ => None,
        };
        let key = match fixed {
            Some((_, name)) => name,
            None => {
                std::str::from_utf8(key).map_err(|_| OrcaError::UnsupportedMetric(snippet(key)))?
            }
        };
        let field = match fixed {
            Some((field, _)) => Some(field),
            None => match key.strip_prefix("named_metrics.") {
                Some(name) => Some(Field::Named(name)),
                None if key.starts_with("utilization.") || key.starts_with("request_cost.") => None,
                None => return Err(OrcaError::UnsupportedMetric(snippet(key.as_bytes()))),
            },
        };
        if value.is_empty() {
            return Err(OrcaError::MissingValue(snippet(key.as_bytes())));
        }
        let number = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| OrcaError::BadNumber {
                metric: snippet(key.as_bytes()),
                value: snippet(value),
            })?;
        match field {
            Some(field) => report.set(field, number, Repeat::Reject)?,
            None => {
                let (_, map_key) = key.split_once('.').unwrap_or_default();
                check_ignored(|| snippet(key.as_bytes()), map_key, number)?;
            }
        }
    }
    Ok(())
}

/// Parses and delivers the body of a `JSON ` report.
fn parse_json(body: &[u8], each: &mut impl FnMut(Field<'_>, f64)) -> Result<usize, OrcaError> {
    use serde_json::Value;

    let doc: Value =
        serde_json::from_slice(body).map_err(|error| OrcaError::Json(error.to_string()))?;
    let Value::Object(object) = &doc else {
        return Err(OrcaError::Json("the report is not a JSON object".into()));
    };
    let mut report = Report::default();
    for (key, value) in object {
        let plain = match key.as_str() {
            "cpu_utilization" | "cpuUtilization" => Some(Field::CpuUtilization),
            "mem_utilization" | "memUtilization" => Some(Field::MemUtilization),
            "application_utilization" | "applicationUtilization" => {
                Some(Field::ApplicationUtilization)
            }
            "rps_fractional" | "rpsFractional" => Some(Field::RpsFractional),
            "eps" => Some(Field::Eps),
            _ => None,
        };
        if let Some(field) = plain {
            if let Some(number) = json_number(|| field_error_name(field), value)? {
                report.set(field, number, Repeat::Reject)?;
            }
            continue;
        }
        match key.as_str() {
            "rps" => match value {
                Value::Null => {}
                Value::Number(n) if n.as_u64().is_some() => report.rps = n.as_u64(),
                Value::String(s) if s.parse::<u64>().is_ok() => report.rps = s.parse().ok(),
                _ => {
                    return Err(OrcaError::BadNumber {
                        metric: "rps".into(),
                        value: snippet(value.to_string().as_bytes()),
                    });
                }
            },
            "named_metrics" | "namedMetrics" | "utilization" | "request_cost" | "requestCost" => {
                let named = matches!(key.as_str(), "named_metrics" | "namedMetrics");
                let entries = match value {
                    Value::Null => continue,
                    Value::Object(entries) => entries,
                    _ => {
                        return Err(OrcaError::Json(format!("`{key}` is not a JSON object")));
                    }
                };
                for (name, value) in entries {
                    let metric = || format!("{key}.{}", snippet(name.as_bytes()));
                    let number = json_number(metric, value)?.unwrap_or(0.0);
                    if named {
                        report.set(Field::Named(name), number, Repeat::Reject)?;
                    } else {
                        check_ignored(metric, name, number)?;
                    }
                }
            }
            _ => return Err(OrcaError::UnsupportedMetric(snippet(key.as_bytes()))),
        }
    }
    Ok(report.deliver(each))
}

/// A proto3 JSON `double`: a number, or a string holding one; `None` for `null`.
fn json_number(
    metric: impl FnOnce() -> String,
    value: &serde_json::Value,
) -> Result<Option<f64>, OrcaError> {
    use serde_json::Value;
    let number = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    number.map(Some).ok_or_else(|| OrcaError::BadNumber {
        metric: metric(),
        value: snippet(value.to_string().as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use prost::Message as _;

    use super::*;

    /// Mirrors `xds.data.orca.v3.OrcaLoadReport`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct OrcaLoadReport {
        #[prost(double, tag = "1")]
        cpu_utilization: f64,
        #[prost(double, tag = "2")]
        mem_utilization: f64,
        #[prost(uint64, tag = "3")]
        rps: u64,
        #[prost(btree_map = "string, double", tag = "4")]
        request_cost: BTreeMap<String, f64>,
        #[prost(btree_map = "string, double", tag = "5")]
        utilization: BTreeMap<String, f64>,
        #[prost(double, tag = "6")]
        rps_fractional: f64,
        #[prost(double, tag = "7")]
        eps: f64,
        #[prost(btree_map = "string, double", tag = "8")]
        named_metrics: BTreeMap<String, f64>,
        #[prost(double, tag = "9")]
        application_utilization: f64,
    }

    /// A message with fields `OrcaLoadReport` does not know, of every wire type.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Extras {
        #[prost(string, tag = "10")]
        text: String,
        #[prost(fixed32, tag = "11")]
        fixed32: u32,
        #[prost(uint64, tag = "12")]
        varint: u64,
        #[prost(message, optional, tag = "13")]
        nested: Option<Inner>,
        #[prost(fixed64, tag = "536870911")]
        max_field: u64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Inner {
        #[prost(string, tag = "10")]
        text: String,
        #[prost(double, tag = "1")]
        double: f64,
    }

    fn example() -> OrcaLoadReport {
        OrcaLoadReport {
            cpu_utilization: 0.7,
            mem_utilization: 0.9,
            rps: 0,
            request_cost: BTreeMap::from([("db".into(), 12.0)]),
            utilization: BTreeMap::from([("total".into(), 0.5)]),
            rps_fractional: 1000.0,
            eps: 2.0,
            named_metrics: BTreeMap::from([("foo".into(), 123.0), ("bar".into(), 0.2)]),
            application_utilization: 0.8,
        }
    }

    fn example_fields() -> Vec<(String, f64)> {
        fields(&[
            ("cpu_utilization", 0.7),
            ("mem_utilization", 0.9),
            ("application_utilization", 0.8),
            ("rps_fractional", 1000.0),
            ("eps", 2.0),
            ("named_metrics.bar", 0.2),
            ("named_metrics.foo", 123.0),
        ])
    }

    fn fields(list: &[(&str, f64)]) -> Vec<(String, f64)> {
        list.iter().map(|&(n, v)| (n.to_owned(), v)).collect()
    }

    fn sorted(mut list: Vec<(String, f64)>) -> Vec<(String, f64)> {
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// A parser, as `run` calls it.
    type Parser = fn(&[u8], &mut dyn FnMut(Field<'_>, f64)) -> Result<usize, OrcaError>;

    /// Runs a parser, checking the count and that an error delivered nothing.
    fn run(parse: Parser, value: &[u8]) -> Result<Vec<(String, f64)>, OrcaError> {
        let mut out = Vec::new();
        let result = parse(value, &mut |field, v| {
            out.push((field.name().into_owned(), v))
        });
        match result {
            Ok(count) => {
                assert_eq!(count, out.len(), "count for {value:?}");
                Ok(out)
            }
            Err(error) => {
                assert!(out.is_empty(), "error {error} after delivering {out:?}");
                Err(error)
            }
        }
    }

    fn bin(value: impl AsRef<[u8]>) -> Result<Vec<(String, f64)>, OrcaError> {
        run(|v, each| parse_bin(v, each), value.as_ref())
    }

    fn text(value: impl AsRef<[u8]>) -> Result<Vec<(String, f64)>, OrcaError> {
        run(|v, each| parse_text(v, each), value.as_ref())
    }

    fn encode(report: &OrcaLoadReport) -> Vec<u8> {
        report.encode_to_vec()
    }

    #[test]
    fn field_names() {
        assert_eq!(Field::CpuUtilization.name(), "cpu_utilization");
        assert_eq!(Field::MemUtilization.name(), "mem_utilization");
        assert_eq!(
            Field::ApplicationUtilization.name(),
            "application_utilization"
        );
        assert_eq!(Field::RpsFractional.name(), "rps_fractional");
        assert_eq!(Field::Eps.name(), "eps");
        assert_eq!(Field::Named("kv_cache").name(), "named_metrics.kv_cache");
    }

    #[test]
    fn bin_round_trips_padded_and_unpadded() {
        let bytes = encode(&example());
        let padded = STANDARD.encode(&bytes);
        let unpadded = STANDARD_NO_PAD.encode(&bytes);
        assert_ne!(padded, unpadded, "the example must need padding");
        assert_eq!(bin(&padded).unwrap(), example_fields());
        assert_eq!(bin(&unpadded).unwrap(), example_fields());
        assert_eq!(bin(format!(" {padded} ")).unwrap(), example_fields());
    }

    #[test]
    fn bin_value_captured_from_grpc_go() {
        // cpu 0.5, rps_fractional 100, eps 2, named rif=4; unpadded as grpc-go sends it.
        let expected = fields(&[
            ("cpu_utilization", 0.5),
            ("rps_fractional", 100.0),
            ("eps", 2.0),
            ("named_metrics.rif", 4.0),
        ]);
        let unpadded = "CQAAAAAAAOA/MQAAAAAAAFlAOQAAAAAAAABAQg4KA3JpZhEAAAAAAAAQQA";
        assert_eq!(bin(unpadded).unwrap(), expected);
        assert_eq!(bin(format!("{unpadded}==")).unwrap(), expected);
    }

    #[test]
    fn bin_empty_report_and_empty_value() {
        // A zero-length protobuf is a valid (empty) report, but it has no base64 form.
        assert_eq!(bin(""), Err(OrcaError::Empty));
        assert_eq!(bin("   "), Err(OrcaError::Empty));
        let report = OrcaLoadReport::default();
        assert!(encode(&report).is_empty());
    }

    #[test]
    fn bin_deprecated_rps() {
        let only_rps = OrcaLoadReport {
            rps: 42,
            ..Default::default()
        };
        assert_eq!(
            bin(STANDARD.encode(encode(&only_rps))).unwrap(),
            fields(&[("rps_fractional", 42.0)])
        );
        let both = OrcaLoadReport {
            rps: 42,
            rps_fractional: 41.5,
            ..Default::default()
        };
        assert_eq!(
            bin(STANDARD.encode(encode(&both))).unwrap(),
            fields(&[("rps_fractional", 41.5)])
        );
    }

    #[test]
    fn bin_utilization_above_one_allowed() {
        let report = OrcaLoadReport {
            cpu_utilization: 1.5,
            application_utilization: 3.0,
            ..Default::default()
        };
        assert_eq!(
            bin(STANDARD.encode(encode(&report))).unwrap(),
            fields(&[("cpu_utilization", 1.5), ("application_utilization", 3.0)])
        );
    }

    #[test]
    fn bin_ignores_utilization_and_request_cost_maps() {
        let report = OrcaLoadReport {
            utilization: BTreeMap::from([("gpu".into(), 0.4)]),
            request_cost: BTreeMap::from([("bytes".into(), 3487.0)]),
            ..Default::default()
        };
        assert_eq!(bin(STANDARD.encode(encode(&report))).unwrap(), fields(&[]));
    }

    #[test]
    fn bin_skips_unknown_fields() {
        let extras = Extras {
            text: "hello".into(),
            fixed32: 7,
            varint: u64::MAX,
            nested: Some(Inner {
                text: "inner".into(),
                double: -1.0,
            }),
            max_field: 9,
        };
        let mut bytes = extras.encode_to_vec();
        bytes.extend(encode(&example()));
        bytes.extend(extras.encode_to_vec());
        assert_eq!(bin(STANDARD.encode(&bytes)).unwrap(), example_fields());

        // Unknown fields inside a map entry are skipped too.
        let entry = [
            0x18, 0x05, // field 3 varint 5
            0x0a, 0x01, b'x', // key "x"
            0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // value 1.0
            0x25, 1, 2, 3, 4, // field 4 fixed32
        ];
        let mut bytes = vec![0x42, entry.len() as u8];
        bytes.extend(entry);
        assert_eq!(
            bin(STANDARD.encode(&bytes)).unwrap(),
            fields(&[("named_metrics.x", 1.0)])
        );
    }

    #[test]
    fn bin_map_entry_defaults_and_last_value_wins() {
        // A named entry with no value field is 0.
        let bytes = [0x42, 0x03, 0x0a, 0x01, b'z'];
        assert_eq!(
            bin(STANDARD.encode(bytes)).unwrap(),
            fields(&[("named_metrics.z", 0.0)])
        );
        // A named entry with no key field has the empty key: malformed.
        let bytes = [0x42, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
        assert!(matches!(
            bin(STANDARD.encode(bytes)),
            Err(OrcaError::InvalidKey { .. })
        ));
        // The same key twice, and a plain field twice: the last value wins.
        let one = OrcaLoadReport {
            cpu_utilization: 0.1,
            named_metrics: BTreeMap::from([("a".into(), 1.0), ("b".into(), 2.0)]),
            ..Default::default()
        };
        let two = OrcaLoadReport {
            cpu_utilization: 0.2,
            named_metrics: BTreeMap::from([("a".into(), 3.0)]),
            ..Default::default()
        };
        let mut bytes = encode(&one);
        bytes.extend(encode(&two));
        assert_eq!(
            bin(STANDARD.encode(&bytes)).unwrap(),
            fields(&[
                ("cpu_utilization", 0.2),
                ("named_metrics.a", 3.0),
                ("named_metrics.b", 2.0)
            ])
        );
    }

    #[test]
    fn bin_many_named_metrics_spill_and_dedupe() {
        let many: BTreeMap<String, f64> = (0..100)
            .map(|i| (format!("m{i:03}"), f64::from(i)))
            .collect();
        let report = OrcaLoadReport {
            named_metrics: many.clone(),
            ..Default::default()
        };
        let mut bytes = encode(&report);
        // Repeat the whole map with new values: every key must appear once, updated.
        let again = OrcaLoadReport {
            named_metrics: many.keys().map(|k| (k.clone(), 1000.0)).collect(),
            ..Default::default()
        };
        bytes.extend(encode(&again));
        let b64 = STANDARD.encode(&bytes);
        assert!(b64.len() > 1400, "exercises the heap decode path");
        let got = bin(&b64).unwrap();
        let expected: Vec<_> = many
            .keys()
            .map(|k| (format!("named_metrics.{k}"), 1000.0))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn bin_rejects_bad_values() {
        for (report, problem) in [
            (
                OrcaLoadReport {
                    cpu_utilization: f64::NAN,
                    ..Default::default()
                },
                "NaN",
            ),
            (
                OrcaLoadReport {
                    eps: f64::INFINITY,
                    ..Default::default()
                },
                "infinite",
            ),
            (
                OrcaLoadReport {
                    mem_utilization: -0.1,
                    ..Default::default()
                },
                "negative",
            ),
            (
                OrcaLoadReport {
                    cpu_utilization: 0.5,
                    named_metrics: BTreeMap::from([("q".into(), f64::NEG_INFINITY)]),
                    ..Default::default()
                },
                "infinite",
            ),
        ] {
            let error = bin(STANDARD.encode(encode(&report))).unwrap_err();
            assert!(
                matches!(&error, OrcaError::InvalidValue { problem: p, .. } if *p == problem),
                "{error}"
            );
        }
    }

    #[test]
    fn bin_rejects_bad_keys() {
        for key in [
            String::new(),
            "x".repeat(129),
            "tab\there".into(),
            "nul\0".into(),
        ] {
            let report = OrcaLoadReport {
                cpu_utilization: 0.5,
                named_metrics: BTreeMap::from([(key.clone(), 1.0)]),
                ..Default::default()
            };
            let error = bin(STANDARD.encode(encode(&report))).unwrap_err();
            assert!(
                matches!(error, OrcaError::InvalidKey { .. }),
                "{key:?}: {error}"
            );
        }
        let ok = OrcaLoadReport {
            named_metrics: BTreeMap::from([("x".repeat(128), 1.0), ("ünï cødé".into(), 2.0)]),
            ..Default::default()
        };
        assert_eq!(bin(STANDARD.encode(encode(&ok))).unwrap().len(), 2);
        // A key that is not UTF-8.
        let bytes = [0x42, 0x04, 0x0a, 0x02, 0xff, 0xfe];
        assert!(matches!(
            bin(STANDARD.encode(bytes)),
            Err(OrcaError::Protobuf(_))
        ));
    }

    #[test]
    fn bin_rejects_malformed_protobuf() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x09, 1, 2, 3], "truncated double"),
            (&[0x08, 0x01], "cpu_utilization as varint"),
            (&[0x19, 0, 0, 0, 0, 0, 0, 0, 0], "rps as fixed64"),
            (&[0x40, 0x01], "named_metrics as varint"),
            (&[0x42, 0x05, 0x0a], "map entry overruns"),
            (&[0x42, 0x02, 0x08, 0x01], "map key as varint"),
            (&[0x00], "field number 0"),
            (&[0x80], "truncated tag"),
            (
                &[
                    0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                "varint overflow",
            ),
            (
                &[
                    0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                "11-byte varint",
            ),
            (&[0x5b, 0x5c], "group"),
            (&[0x56], "wire type 6"),
            (&[0x52, 0xff, 0xff, 0xff, 0xff, 0x0f], "huge length"),
            (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "tag over 32 bits"),
        ];
        for (bytes, what) in cases {
            let error = bin(STANDARD.encode(bytes)).unwrap_err();
            assert!(
                matches!(error, OrcaError::Protobuf(_) | OrcaError::WireType { .. }),
                "{what}: {error}"
            );
        }
        // A large varint in an unknown field is fine.
        let max = [
            0x50, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(bin(STANDARD.encode(max)).unwrap(), fields(&[]));
    }

    #[test]
    fn bin_rejects_bad_base64_and_oversize() {
        assert_eq!(bin("not-a-valid-binary-proto"), Err(OrcaError::Base64));
        assert_eq!(bin("CQAAAAAAAOA/M=QA"), Err(OrcaError::Base64));
        assert_eq!(
            bin("CQAAAAAAAOA_MQ"),
            Err(OrcaError::Base64),
            "URL-safe alphabet"
        );
        assert_eq!(bin("C"), Err(OrcaError::Base64));
        let big = "A".repeat(MAX_VALUE_LEN + 4);
        assert_eq!(bin(&big), Err(OrcaError::TooLong(MAX_VALUE_LEN + 4)));
        assert_eq!(
            text(format!("BIN {big}")),
            Err(OrcaError::TooLong(MAX_VALUE_LEN + 8))
        );
        // Exactly at the limit: all-zero bytes are field-0 tags, so a protobuf error,
        // not a length error.
        let at_limit = "A".repeat(MAX_VALUE_LEN);
        assert!(matches!(bin(&at_limit), Err(OrcaError::Protobuf(_))));
    }

    #[test]
    fn bin_every_truncation_is_an_error_or_a_subset() {
        let report = OrcaLoadReport {
            rps: 7,
            ..example()
        };
        let bytes = encode(&report);
        let full = sorted(bin(STANDARD.encode(&bytes)).unwrap());
        for len in 0..bytes.len() {
            let b64 = STANDARD.encode(&bytes[..len]);
            match bin(&b64) {
                Ok(got) => {
                    for field in &got {
                        let same =
                            full.contains(field) || (field.0 == "rps_fractional" && field.1 == 7.0);
                        assert!(same, "{len}: {field:?} not in the full report");
                    }
                }
                Err(error) => assert!(len == 0 || !matches!(error, OrcaError::Base64)),
            }
        }
        // Truncating the base64 text itself.
        let b64 = STANDARD.encode(&bytes);
        for len in 0..b64.len() {
            let _ = bin(&b64[..len]);
        }
    }

    /// A small deterministic PRNG (xorshift64*), so the test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn check_delivery(result: Result<Vec<(String, f64)>, OrcaError>) {
        if let Ok(got) = result {
            for (name, value) in got {
                assert!(value.is_finite() && value >= 0.0, "{name} = {value}");
                if let Some(key) = name.strip_prefix("named_metrics.") {
                    assert!(check_key(key).is_ok(), "{key:?}");
                }
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let bytes = encode(&OrcaLoadReport {
            rps: 3,
            ..example()
        });
        let b64 = STANDARD.encode(&bytes);
        let text_form = "TEXT cpu_utilization=0.7, named_metrics.foo=1,utilization.x=2";
        let json_form = r#"JSON {"cpuUtilization": 0.7, "named_metrics": {"foo": 1}}"#;
        for _ in 0..20_000 {
            // Mutate the protobuf.
            let mut mutated = bytes.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(mutated.len());
                match rng.below(4) {
                    0 => mutated[at] = rng.next() as u8,
                    1 => mutated[at] ^= 1 << rng.below(8),
                    2 => {
                        mutated.remove(at);
                    }
                    _ => mutated.insert(at, rng.next() as u8),
                }
                if mutated.is_empty() {
                    break;
                }
            }
            check_delivery(bin(STANDARD.encode(&mutated)));
            check_delivery(text(format!("BIN {}", STANDARD_NO_PAD.encode(&mutated))));
            // Mutate the base64, TEXT and JSON forms.
            for form in [b64.as_bytes(), text_form.as_bytes(), json_form.as_bytes()] {
                let mut mutated = form.to_vec();
                let at = rng.below(mutated.len());
                mutated[at] = rng.next() as u8;
                check_delivery(bin(&mutated));
                check_delivery(text(&mutated));
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(42);
        for _ in 0..20_000 {
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check_delivery(bin(STANDARD.encode(&bytes)));
        }
    }

    #[test]
    fn text_form() {
        let value = "TEXT cpu_utilization=0.7,application_utilization=0.8,mem_utilization=0.9,\
                     rps_fractional=1000,eps=2,named_metrics.foo=123,named_metrics.bar=0.2,\
                     utilization.total=0.5";
        let expected = fields(&[
            ("cpu_utilization", 0.7),
            ("mem_utilization", 0.9),
            ("application_utilization", 0.8),
            ("rps_fractional", 1000.0),
            ("eps", 2.0),
            ("named_metrics.foo", 123.0),
            ("named_metrics.bar", 0.2),
        ]);
        assert_eq!(text(value).unwrap(), expected);
        assert_eq!(text(value.replace('=', ":")).unwrap(), expected);
        assert_eq!(
            text("TEXT  cpu_utilization = 0.3 , rps_fractional=10, named_metrics.foo=2,").unwrap(),
            fields(&[
                ("cpu_utilization", 0.3),
                ("rps_fractional", 10.0),
                ("named_metrics.foo", 2.0)
            ])
        );
        // `=` takes precedence over `:`, so named keys may hold colons.
        assert_eq!(
            text("TEXT named_metrics.vllm:waiting=3, request_cost.db=1e3").unwrap(),
            fields(&[("named_metrics.vllm:waiting", 3.0)])
        );
        assert_eq!(text("TEXT ").unwrap(), fields(&[]));
        assert_eq!(text("TEXT").unwrap(), fields(&[]));
        assert_eq!(
            text("TEXT cpu_utilization=1.5e0").unwrap(),
            fields(&[("cpu_utilization", 1.5)])
        );
    }

    #[test]
    fn text_form_errors() {
        let cases: &[(&str, OrcaError)] = &[
            ("", OrcaError::UnknownFormat(String::new())),
            ("BAD random-value", OrcaError::UnknownFormat("BAD".into())),
            (
                "BADBAD random-value",
                OrcaError::UnknownFormat("BADBA".into()),
            ),
            (
                "TEXTcpu_utilization=1",
                OrcaError::UnknownFormat("TEXTc".into()),
            ),
            (
                "text cpu_utilization=1",
                OrcaError::UnknownFormat("text".into()),
            ),
            (
                "cpu_utilization=0.7",
                OrcaError::UnknownFormat("cpu_u".into()),
            ),
            (
                "TEXT cpu_utilization=\"0.7\"",
                OrcaError::BadNumber {
                    metric: "cpu_utilization".into(),
                    value: "\"0.7\"".into(),
                },
            ),
            (
                "TEXT cpu_utilization=0.7x",
                OrcaError::BadNumber {
                    metric: "cpu_utilization".into(),
                    value: "0.7x".into(),
                },
            ),
            (
                "TEXT cpu_utilization=NaN",
                OrcaError::InvalidValue {
                    metric: "cpu_utilization".into(),
                    problem: "NaN",
                },
            ),
            (
                "TEXT eps=inf",
                OrcaError::InvalidValue {
                    metric: "eps".into(),
                    problem: "infinite",
                },
            ),
            (
                "TEXT cpu_utilization=-1",
                OrcaError::InvalidValue {
                    metric: "cpu_utilization".into(),
                    problem: "negative",
                },
            ),
            (
                "TEXT utilization.x=-1",
                OrcaError::InvalidValue {
                    metric: "utilization.x".into(),
                    problem: "negative",
                },
            ),
            (
                "TEXT cpu_utilization=0.7,cpu_utilization=0.8",
                OrcaError::DuplicateMetric("cpu_utilization".into()),
            ),
            (
                "TEXT named_metrics.d=1,named_metrics.d=2",
                OrcaError::DuplicateMetric("named_metrics.d".into()),
            ),
            (
                "TEXT cpu_utilization=0.7,unsupported_metric=0.8",
                OrcaError::UnsupportedMetric("unsupported_metric".into()),
            ),
            ("TEXT rps=3", OrcaError::UnsupportedMetric("rps".into())),
            (
                "TEXT not-a-list-of-key-value-pairs",
                OrcaError::UnsupportedMetric("not-a-list-of-key-value-pairs".into()),
            ),
            (
                "TEXT cpu_utilization",
                OrcaError::MissingValue("cpu_utilization".into()),
            ),
            (
                "TEXT cpu_utilization=",
                OrcaError::MissingValue("cpu_utilization".into()),
            ),
            ("TEXT =3", OrcaError::EmptyMetricName),
        ];
        for (value, expected) in cases {
            assert_eq!(&text(value).unwrap_err(), expected, "{value:?}");
        }
        for value in ["TEXT named_metrics.=123", "TEXT utilization.=0.9"] {
            assert!(
                matches!(text(value), Err(OrcaError::InvalidKey { .. })),
                "{value:?}"
            );
        }
        // An error after valid entries still delivers nothing (checked by `text`).
        assert!(text("TEXT cpu_utilization=0.1,named_metrics.a=1,eps=x").is_err());
        let long_key = format!("TEXT named_metrics.{}=1", "k".repeat(200));
        assert!(matches!(text(long_key), Err(OrcaError::InvalidKey { .. })));
        assert!(text(b"TEXT named_metrics.\xff=1").is_err());
    }

    #[test]
    fn json_form() {
        let value = r#"JSON {"cpu_utilization": 0.7, "application_utilization": 0.8,
            "mem_utilization": 0.9, "rps_fractional": 1000, "eps": 2,
            "named_metrics": {"foo": 123, "bar": 0.2}, "utilization": {"total": 0.5},
            "request_cost": {"db": 4}}"#;
        assert_eq!(sorted(text(value).unwrap()), sorted(example_fields()));
        let camel = r#"JSON {"cpuUtilization": "0.7", "applicationUtilization": 0.8,
            "memUtilization": 0.9, "rpsFractional": "1e3", "eps": 2,
            "namedMetrics": {"foo": 123, "bar": "0.2"}, "requestCost": null}"#;
        assert_eq!(sorted(text(camel).unwrap()), sorted(example_fields()));
        assert_eq!(
            text(r#"JSON {"rps": "12", "eps": null}"#).unwrap(),
            fields(&[("rps_fractional", 12.0)])
        );
        assert_eq!(
            text(r#"JSON {"rps": 12, "rpsFractional": 1.5}"#).unwrap(),
            fields(&[("rps_fractional", 1.5)])
        );
        assert_eq!(text("JSON {}").unwrap(), fields(&[]));
    }

    #[test]
    fn json_form_errors() {
        for value in [
            "JSON not-a-valid-json-string",
            r#"JSON {"cpu_utilization": "0.7""#,
            "JSON [1, 2]",
            "JSON",
            r#"JSON {"named_metrics": [1]}"#,
        ] {
            assert!(matches!(text(value), Err(OrcaError::Json(_))), "{value:?}");
        }
        let cases: &[(&str, OrcaError)] = &[
            (
                r#"JSON {"cpu_utilization": 0.7, "unknown_field": 2}"#,
                OrcaError::UnsupportedMetric("unknown_field".into()),
            ),
            (
                r#"JSON {"cpu_utilization": 0.7, "cpuUtilization": 0.8}"#,
                OrcaError::DuplicateMetric("cpu_utilization".into()),
            ),
            (
                r#"JSON {"named_metrics": {"a": 1}, "namedMetrics": {"a": 2}}"#,
                OrcaError::DuplicateMetric("named_metrics.a".into()),
            ),
            (
                r#"JSON {"eps": "NaN"}"#,
                OrcaError::InvalidValue {
                    metric: "eps".into(),
                    problem: "NaN",
                },
            ),
            (
                r#"JSON {"eps": "-Infinity"}"#,
                OrcaError::InvalidValue {
                    metric: "eps".into(),
                    problem: "infinite",
                },
            ),
            (
                r#"JSON {"named_metrics": {"a": -2}}"#,
                OrcaError::InvalidValue {
                    metric: "named_metrics.a".into(),
                    problem: "negative",
                },
            ),
            (
                r#"JSON {"cpu_utilization": true}"#,
                OrcaError::BadNumber {
                    metric: "cpu_utilization".into(),
                    value: "true".into(),
                },
            ),
            (
                r#"JSON {"rps": -1}"#,
                OrcaError::BadNumber {
                    metric: "rps".into(),
                    value: "-1".into(),
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(&text(value).unwrap_err(), expected, "{value:?}");
        }
        assert!(matches!(
            text(r#"JSON {"named_metrics": {"": 1}}"#),
            Err(OrcaError::InvalidKey { .. })
        ));
        assert!(matches!(
            text(r#"JSON {"utilization": {"x\u0001": 1}}"#),
            Err(OrcaError::InvalidKey { .. })
        ));
    }

    #[test]
    fn bin_prefix_form() {
        let bytes = encode(&example());
        assert_eq!(
            text(format!("BIN {}", STANDARD.encode(&bytes))).unwrap(),
            example_fields()
        );
        assert_eq!(
            text(format!("BIN {}", STANDARD_NO_PAD.encode(&bytes))).unwrap(),
            example_fields()
        );
        assert_eq!(text("BIN "), Err(OrcaError::Empty));
        assert_eq!(text("BIN"), Err(OrcaError::Empty));
        assert_eq!(text("BIN !!!"), Err(OrcaError::Base64));
    }

    #[test]
    fn error_messages_are_clear() {
        assert_eq!(
            OrcaError::TooLong(9000).to_string(),
            "ORCA load report header value is 9000 bytes long, over the 8192-byte limit"
        );
        assert_eq!(
            text("TEXT cpu_utilization=-1").unwrap_err().to_string(),
            "ORCA metric \"cpu_utilization\" is negative; values must be finite and non-negative"
        );
        let long = format!("TEXT named_metrics.{}=1", "k".repeat(200));
        let message = text(long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("longer than 128 bytes"), "{message}");
    }
}
