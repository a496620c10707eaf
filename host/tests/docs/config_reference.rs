//! `docs/configuration.md` against the configuration types: a key the types know that
//! the reference does not name, or one the reference names that the types do not know,
//! fails the test, which lists each by its path.
//!
//! The types' keys are not written down here: serde tells them. [`Probe`] is a
//! deserializer that walks [`Config`] along one path of keys at a time. Serde hands a
//! struct's field names to `deserialize_struct`, so at the end of the path the probe
//! records them (and stops); along the path it feeds each struct only the next key, so
//! no leaf value ever has to be valid. Sequences are walked through one element, maps
//! through one entry (their keys are free: `*`). Enums that serde buffers
//! (`discovery`'s internally tagged one, the untagged header matches) call
//! `deserialize_any`; the probe answers with a map holding one unknown key, and learns
//! the tag, the variants and their fields from the errors serde raises through the
//! probe's own error type (`missing_field`, `unknown_variant`, `unknown_field`), not
//! from their text. Free-form tables (`policy_config`, `health_config`) take any key.
//!
//! The reference's keys are every `key = value` line of its ```toml blocks, commented
//! ones (`# key = value`) too, under the `[table]` or `[[array]]` header above them,
//! with the keys inside inline tables and arrays of them.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use switchyard::config::Config;

/// A key the probe puts where a type may refuse it, to learn what it accepts.
const PROBE_KEY: &str = "\u{1}probe";

/// One step from a value to a value inside it.
#[derive(Clone, Debug)]
enum Step {
    /// A struct's field.
    Field(String),
    /// A sequence's element.
    Element,
    /// A map's value, under any key.
    Entry,
}

/// What a probe found at the end of its path.
#[derive(Debug, PartialEq)]
enum Shape {
    /// A number, string, boolean, or anything read from one (durations, addresses).
    Leaf,
    /// A struct, with its fields.
    Struct(Vec<String>),
    /// An array.
    Seq,
    /// A table with keys of the user's choice.
    Map,
    /// A value serde buffers before deciding what it is (`deserialize_any`).
    Any,
}

/// The error of a probe. Serde's helpers for the errors that matter here are
/// overridden to keep what they say, structured, in [`EVENTS`].
#[derive(Debug)]
enum Stop {
    /// The probe stopped where it meant to.
    Done,
    /// A required field (or an internally tagged enum's tag) is missing.
    MissingField(String),
    /// Anything else.
    Other(String),
}

/// What serde reported through [`Stop`]'s constructors: untagged enums swallow the
/// errors of the variants they try, so they are collected as they are made.
#[derive(Clone, Debug)]
enum Event {
    MissingField(String),
    UnknownField(Vec<String>),
    UnknownVariant(Vec<String>),
}

thread_local! {
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

fn note(event: Event) {
    EVENTS.with(|events| events.borrow_mut().push(event));
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Done => f.write_str("done"),
            Stop::MissingField(field) => write!(f, "missing field {field}"),
            Stop::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Stop::Other(message.to_string())
    }
    fn missing_field(field: &'static str) -> Self {
        note(Event::MissingField(field.to_string()));
        Stop::MissingField(field.to_string())
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        note(Event::UnknownField(
            expected.iter().map(|s| s.to_string()).collect(),
        ));
        Stop::Other(format!("unknown field {field}"))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        note(Event::UnknownVariant(
            expected.iter().map(|s| s.to_string()).collect(),
        ));
        Stop::Other(format!("unknown variant {variant}"))
    }
}

/// What the probe says when a buffered value (`deserialize_any`) is at its path's end.
#[derive(Clone, Debug)]
enum AnyAnswer {
    /// A map with one key no type knows.
    Unknown,
    /// A map with `tag` set to a name no variant has.
    BadTag(String),
    /// A map with `tag` set to `variant`, and a key no type knows.
    Variant(String, String),
}

/// The deserializer that walks [`Config`] along `rest`.
struct Probe<'a> {
    rest: &'a [Step],
    any: &'a AnyAnswer,
    found: &'a RefCell<Option<Shape>>,
}

impl<'a> Probe<'a> {
    fn stop<T>(self, shape: Shape) -> Result<T, Stop> {
        if self.rest.is_empty() {
            *self.found.borrow_mut() = Some(shape);
            Err(Stop::Done)
        } else {
            Err(Stop::Other(format!(
                "{shape:?} where the path goes on with {:?}",
                self.rest
            )))
        }
    }

    fn next(&self) -> Probe<'a> {
        Probe {
            rest: &self.rest[1..],
            any: self.any,
            found: self.found,
        }
    }
}

/// A value the probe hands over inside a map of its own making.
enum Value<'a> {
    Probe(Probe<'a>),
    Str(String),
    Unit,
}

/// A map of the probe's making, one entry at a time.
struct Entries<'a> {
    entries: std::vec::IntoIter<(String, Value<'a>)>,
    value: Option<Value<'a>>,
}

impl<'a> Entries<'a> {
    fn new(entries: Vec<(String, Value<'a>)>) -> Self {
        Entries {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                let key: de::value::StringDeserializer<Stop> = key.into_deserializer();
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        match self.value.take().expect("a key came first") {
            Value::Probe(probe) => seed.deserialize(probe),
            Value::Str(text) => {
                let text: de::value::StringDeserializer<Stop> = text.into_deserializer();
                seed.deserialize(text)
            }
            Value::Unit => seed.deserialize(de::value::UnitDeserializer::<Stop>::new()),
        }
    }
}

/// A sequence of one element.
struct One<'a>(Option<Probe<'a>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.0.take() {
            None => Ok(None),
            Some(probe) => seed.deserialize(probe).map(Some),
        }
    }
}

macro_rules! leaves {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.stop(Shape::Leaf)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    leaves! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        if !self.rest.is_empty() {
            return self.stop(Shape::Any);
        }
        *self.found.borrow_mut() = Some(Shape::Any);
        let entries = match self.any {
            AnyAnswer::Unknown => vec![(PROBE_KEY.to_string(), Value::Unit)],
            AnyAnswer::BadTag(tag) => vec![(tag.clone(), Value::Str(PROBE_KEY.to_string()))],
            AnyAnswer::Variant(tag, variant) => vec![
                (tag.clone(), Value::Str(variant.clone())),
                (PROBE_KEY.to_string(), Value::Unit),
            ],
        };
        visitor.visit_map(Entries::new(entries))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.stop(Shape::Leaf)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.rest.first() {
            Some(Step::Element) => visitor.visit_seq(One(Some(self.next()))),
            _ => self.stop(Shape::Seq),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Stop> {
        self.stop(Shape::Leaf)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.stop(Shape::Leaf)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.rest.first() {
            Some(Step::Entry) => visitor.visit_map(Entries::new(vec![(
                "key".to_string(),
                Value::Probe(self.next()),
            )])),
            _ => self.stop(Shape::Map),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.rest.first() {
            Some(Step::Field(field)) => visitor.visit_map(Entries::new(vec![(
                field.clone(),
                Value::Probe(self.next()),
            )])),
            _ => self.stop(Shape::Struct(
                fields.iter().map(|s| s.to_string()).collect(),
            )),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        // In TOML, the configuration's externally tagged enums are strings.
        self.stop(Shape::Leaf)
    }
}

/// Walks [`Config`] along `path`; what is at its end, the error it ended with, and the
/// events serde reported on the way.
fn probe(path: &[Step], any: &AnyAnswer) -> (Shape, Stop, Vec<Event>) {
    EVENTS.with(|events| events.borrow_mut().clear());
    let found = RefCell::new(None);
    let result = Config::deserialize(Probe {
        rest: path,
        any,
        found: &found,
    });
    let stop = match result {
        Ok(_) => Stop::Other("accepted".into()),
        Err(stop) => stop,
    };
    let events = EVENTS.with(|events| events.take());
    let shape = found
        .into_inner()
        .unwrap_or_else(|| panic!("nothing found along {path:?}: {stop}"));
    (shape, stop, events)
}

/// The keys of the configuration, as a tree.
#[derive(Debug, Default)]
struct Node {
    /// Keys by name.
    keys: BTreeMap<String, Node>,
    /// A table whose keys are the user's (`*`), and what each holds.
    any_key: Option<Box<Node>>,
    /// Takes any key below it, unchecked (a policy's own configuration).
    free: bool,
}

/// What the types hold at `path`, as a [`Node`].
fn explore(path: &mut Vec<Step>) -> Node {
    let mut node = Node::default();
    let (shape, _, _) = probe(path, &AnyAnswer::Unknown);
    match shape {
        Shape::Leaf => {}
        Shape::Struct(fields) => {
            for field in fields {
                path.push(Step::Field(field.clone()));
                node.keys.insert(field, explore(path));
                path.pop();
            }
        }
        Shape::Seq => {
            path.push(Step::Element);
            node = explore(path);
            path.pop();
        }
        Shape::Map => {
            path.push(Step::Entry);
            node.any_key = Some(Box::new(explore(path)));
            path.pop();
        }
        Shape::Any => node = explore_any(path),
    }
    node
}

/// A value serde buffers: an internally tagged enum (its tag and every variant's
/// fields, all leaves), an untagged one (the fields its struct variants miss), or a
/// free-form value.
fn explore_any(path: &[Step]) -> Node {
    let mut node = Node::default();
    let (_, stop, events) = probe(path, &AnyAnswer::Unknown);
    if let Stop::MissingField(tag) = stop {
        // An internally tagged enum says first that its tag is missing.
        node.keys.insert(tag.clone(), Node::default());
        let (_, _, events) = probe(path, &AnyAnswer::BadTag(tag.clone()));
        let variants = events
            .iter()
            .find_map(|event| match event {
                Event::UnknownVariant(variants) => Some(variants.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{path:?}: tag {tag:?}, but no variants"));
        for variant in variants {
            let (_, _, events) = probe(path, &AnyAnswer::Variant(tag.clone(), variant));
            for event in events {
                if let Event::UnknownField(fields) = event {
                    for field in fields {
                        node.keys.insert(field, Node::default());
                    }
                }
            }
        }
        return node;
    }
    for event in events {
        match event {
            Event::MissingField(field) => {
                node.keys.insert(field, Node::default());
            }
            Event::UnknownField(fields) => {
                for field in fields {
                    node.keys.insert(field, Node::default());
                }
            }
            Event::UnknownVariant(_) => {}
        }
    }
    node.free = node.keys.is_empty();
    node
}

/// Every key path of `node` (a user's key as `*`), and those below which any key goes.
fn key_paths(node: &Node, prefix: &str, keys: &mut BTreeSet<String>) {
    for (name, child) in &node.keys {
        let path = join(prefix, name);
        keys.insert(path.clone());
        key_paths(child, &path, keys);
    }
    if let Some(child) = &node.any_key {
        key_paths(child, &join(prefix, "*"), keys);
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `path` (a key path of the reference) as the types name it (a user's key as `*`),
/// or `None` when the types have no such key.
fn resolve(root: &Node, path: &[String]) -> Option<String> {
    let mut node = root;
    let mut resolved = Vec::new();
    for (index, key) in path.iter().enumerate() {
        if node.free {
            resolved.extend(path[index..].iter().cloned());
            return Some(resolved.join("."));
        }
        if let Some(child) = node.keys.get(key) {
            resolved.push(key.clone());
            node = child;
        } else if let Some(child) = &node.any_key {
            resolved.push("*".to_string());
            node = child;
        } else {
            return None;
        }
    }
    Some(resolved.join("."))
}

/// A key of the reference: its path, and the line that names it.
#[derive(Debug)]
struct DocKey {
    path: Vec<String>,
    line: usize,
}

/// The keys of the ```toml blocks of `markdown`, commented ones too.
fn doc_keys(markdown: &str) -> Result<Vec<DocKey>, Vec<String>> {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for block in super::code_blocks(markdown, "toml") {
        let mut table: Vec<String> = Vec::new();
        let mut statement = String::new();
        let mut start = 0;
        for (line, text) in block {
            let uncommented = uncomment(&text);
            if statement.is_empty() {
                let Some(code) = uncommented else { continue };
                if let Some(header) = table_header(code) {
                    for end in 1..=header.len() {
                        keys.push(DocKey {
                            path: header[..end].to_vec(),
                            line,
                        });
                    }
                    table = header;
                    continue;
                }
                if !starts_key(code) {
                    continue;
                }
                start = line;
                statement.push_str(code);
            } else {
                statement.push('\n');
                statement.push_str(uncommented.unwrap_or(&text));
            }
            if !balanced(&statement) {
                continue;
            }
            match toml::from_str::<toml::Table>(&statement) {
                Ok(parsed) => table_keys(&parsed, &table, start, &mut keys),
                Err(error) => errors.push(format!(
                    "line {start}: cannot read {statement:?} as TOML: {error}"
                )),
            }
            statement.clear();
        }
        if !statement.is_empty() {
            errors.push(format!("line {start}: {statement:?} never ends"));
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
}

/// The line without its comment sign, when it is commented out code
/// (`# key = value`, `# [table]`); the line itself when it is not a comment; `None`
/// for a comment in words.
fn uncomment(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    match trimmed.strip_prefix('#') {
        None => Some(trimmed),
        Some(rest) => {
            let rest = rest.trim_start();
            (table_header(rest).is_some() || starts_key(rest)).then_some(rest)
        }
    }
}

/// `[a.b]` or `[[a.b]]` (a comment may follow): `["a", "b"]`.
fn table_header(line: &str) -> Option<Vec<String>> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    let name = &inner[..end];
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    (!name.is_empty() && name.chars().all(bare)).then(|| {
        name.split('.')
            .map(|s| s.trim().to_string())
            .collect::<Vec<_>>()
    })
}

/// Whether `line` starts `key = ...` (a bare or dotted key).
fn starts_key(line: &str) -> bool {
    let Some((key, _)) = line.split_once('=') else {
        return false;
    };
    let key = key.trim();
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Whether every bracket and brace opened in `text` (outside strings and comments) is
/// closed.
fn balanced(text: &str) -> bool {
    let mut depth = 0i32;
    let mut chars = text.chars();
    let mut in_string: Option<char> = None;
    let mut in_comment = false;
    while let Some(c) = chars.next() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        match (in_string, c) {
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(quote), c) if c == quote => in_string = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => in_string = Some(c),
            (None, '#') => in_comment = true,
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, _) => {}
        }
    }
    depth <= 0
}

/// Every key of `parsed`, under `prefix`: tables' keys and those of arrays of tables.
fn table_keys(parsed: &toml::Table, prefix: &[String], line: usize, keys: &mut Vec<DocKey>) {
    for (key, value) in parsed {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        value_keys(value, &path, line, keys);
        keys.push(DocKey { path, line });
    }
}

fn value_keys(value: &toml::Value, path: &[String], line: usize, keys: &mut Vec<DocKey>) {
    match value {
        toml::Value::Table(table) => table_keys(table, path, line, keys),
        toml::Value::Array(items) => {
            for item in items {
                value_keys(item, path, line, keys);
            }
        }
        _ => {}
    }
}

/// The reference, `docs/configuration.md`.
fn reference() -> String {
    let path = super::repo_root().join("docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What is wrong between the types' keys and the reference's: keys missing on either
/// side, and lines that cannot be read.
fn compare(types: &Node, markdown: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = match doc_keys(markdown) {
        Ok(keys) => keys,
        Err(errors) => {
            return errors
                .into_iter()
                .map(|e| format!("docs/configuration.md {e}"))
                .collect();
        }
    };
    let mut documented = BTreeSet::new();
    for key in keys {
        match resolve(types, &key.path) {
            Some(path) => {
                documented.insert(path);
            }
            None => problems.push(format!(
                "docs/configuration.md:{} names `{}`, which the configuration types do not have",
                key.line,
                key.path.join(".")
            )),
        }
    }
    let mut all = BTreeSet::new();
    key_paths(types, "", &mut all);
    for key in all.difference(&documented) {
        problems.push(format!(
            "`{key}` is a configuration key that docs/configuration.md does not name"
        ));
    }
    problems
}

#[test]
fn the_reference_names_every_key_of_the_configuration_types_and_no_other() {
    let types = explore(&mut Vec::new());
    let problems = compare(&types, &reference());
    assert!(
        problems.is_empty(),
        "the configuration reference and the types differ:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_probe_finds_nested_structs_tagged_enums_untagged_enums_and_free_tables() {
    let types = explore(&mut Vec::new());
    let mut all = BTreeSet::new();
    key_paths(&types, "", &mut all);
    for key in [
        "workers",
        "clusters.rollout.min_p99_delta",
        "clusters.endpoints.metadata",
        "clusters.discovery.kind",
        "clusters.discovery.nameserver",
        "clusters.discovery.prefix",
        "listeners.routes.match",
        "listeners.routes.match.headers.*.present",
        "listeners.routes.match.headers.*.regex",
        "listeners.tls.certificates.server_names",
    ] {
        assert!(all.contains(key), "{key} not among {all:#?}");
    }
    let cluster = &types.keys["clusters"];
    let policy_config = cluster.keys["policy_config"].any_key.as_ref();
    assert!(policy_config.expect("a table of the user's keys").free);
    assert_eq!(
        resolve(&types, &path("clusters.endpoints.metadata.rack")),
        Some("clusters.endpoints.metadata.*".into())
    );
    assert_eq!(resolve(&types, &path("clusters.no_such_key")), None);
}

#[test]
fn a_key_missing_on_either_side_is_named() {
    let types = explore(&mut Vec::new());
    let reference = reference();
    let without = reference.replacen("# slow_start = ", "# slow_starts = ", 1);
    assert_ne!(reference, without, "the reference names slow_start");
    let problems = compare(&types, &without);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("names `clusters.slow_starts`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`clusters.slow_start` is a configuration key")),
        "{problems:#?}"
    );
}

#[test]
fn commented_keys_inline_tables_and_headers_are_read() {
    let markdown = "```toml\n\
        [[clusters]]\n\
        name = \"a\"                 # a comment\n\
        # policy_config = { }\n\
        # Words about [this] = that, not a key.\n\
        # scrape = { path = \"/m\",\n\
        #            metrics = [\"x{a=\\\"b\\\"}\"] }\n\
        # [clusters.retries]         # off unless\n\
        # attempts = 3\n\
        ```\n";
    let keys: BTreeSet<String> = doc_keys(markdown)
        .expect("readable")
        .into_iter()
        .map(|key| key.path.join("."))
        .collect();
    let expected = [
        "clusters",
        "clusters.name",
        "clusters.policy_config",
        "clusters.retries",
        "clusters.retries.attempts",
        "clusters.scrape",
        "clusters.scrape.metrics",
        "clusters.scrape.path",
    ];
    assert_eq!(keys, expected.into_iter().map(String::from).collect());
}

fn path(dotted: &str) -> Vec<String> {
    dotted.split('.').map(str::to_string).collect()
}

#[test]
fn the_annotated_file_and_the_readme_example_are_valid_configurations() {
    let readme = std::fs::read_to_string(super::repo_root().join("README.md")).expect("README");
    for (name, markdown) in [
        ("docs/configuration.md", reference()),
        ("README.md", readme),
    ] {
        let block = super::code_blocks(&markdown, "toml")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{name} has a ```toml block"));
        let text: String = block.into_iter().map(|(_, line)| line + "\n").collect();
        let path = std::path::Path::new("/etc/switchyard/switchyard.toml");
        if let Err(e) = switchyard::config::load_text(path, &text) {
            panic!("{name}'s first ```toml block is not a valid configuration: {e}");
        }
    }
}
