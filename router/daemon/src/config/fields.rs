//! Where in the configuration text an error is: the line and column, and the field as a path
//! from the top of the file (`neighbours[1].socket`), in both directions (a byte offset to its
//! field, a field to its value's span).
//!
//! Owns only the mapping; what is wrong is the caller's to say. It never fails: a field it
//! cannot find is reported without a location rather than not at all.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use ants_router::limits::LimitError;
use toml::de::{DeTable, DeValue};

use super::{ConfigError, Location};

/// Collects located errors while one configuration text is checked.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Checker<'_> {
    pub(super) fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl fmt::Display,
    ) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            location: Some(Location::of_offset(self.text, span.start)),
            field: Some(field.into()),
            message: message.to_string(),
        }
    }

    /// Locates a limit out of its bounds at the value the file gave it.
    pub(super) fn limit_error(&self, e: &LimitError) -> ConfigError {
        let path = e.path();
        let keys: Vec<&str> = [e.section, e.field]
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect();
        ConfigError {
            path: self.path.to_path_buf(),
            location: value_span(self.text, &keys)
                .map(|span| Location::of_offset(self.text, span.start)),
            field: Some(path),
            message: e.bound.to_string(),
        }
    }

    /// Converts a deserialization error of `toml`, naming the field its span points into.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim_end().to_string();
        let Some(span) = e.span() else {
            return ConfigError {
                path: self.path.to_path_buf(),
                location: None,
                field: None,
                message,
            };
        };
        // "missing field `x`" spans the table that lacks it: name that table's field.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) => Some(match table_at(self.text, &span) {
                Some(table) => format!("{table}.{missing}"),
                None => missing.to_string(),
            }),
            None => field_at(self.text, span.start),
        };
        ConfigError {
            path: self.path.to_path_buf(),
            location: Some(Location::of_offset(self.text, span.start)),
            field: Some(field.unwrap_or_else(|| "(top level)".to_string())),
            message,
        }
    }
}

/// The dotted path (`neighbours[1].socket`) of the innermost key or value containing `offset`,
/// read from a span-preserving parse of the same text (which recovers from syntax errors).
fn field_at(text: &str, offset: usize) -> Option<String> {
    let (root, _) = DeTable::parse_recoverable(text);
    let mut path = String::new();
    table_path(root.get_ref(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

/// The dotted path of the innermost table or array item whose span covers all of `span`
/// (`None` for the top level).
fn table_at(text: &str, span: &Range<usize>) -> Option<String> {
    fn covers(outer: Range<usize>, inner: &Range<usize>) -> bool {
        outer.start <= inner.start && inner.end <= outer.end && outer != (0..0)
    }
    fn walk(value: &DeValue<'_>, span: &Range<usize>, path: &mut String) {
        match value {
            DeValue::Table(t) => {
                for (key, v) in t {
                    if matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_))
                        && covers(v.span(), span)
                    {
                        push_key(path, key.get_ref());
                        walk(v.get_ref(), span, path);
                        return;
                    }
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if covers(item.span(), span) {
                        path.push_str(&format!("[{i}]"));
                        walk(item.get_ref(), span, path);
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    let (root, _) = DeTable::parse_recoverable(text);
    let mut path = String::new();
    walk(&DeValue::Table(root.into_inner()), span, &mut path);
    (!path.is_empty()).then_some(path)
}

fn push_key(path: &mut String, key: &str) {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !path.is_empty() {
        path.push('.');
    }
    if bare {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

fn table_path(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (key, value) in table {
        if key.span().contains(&offset) {
            push_key(path, key.get_ref());
            return true;
        }
        if value.span().contains(&offset) || contains_offset(value.get_ref(), offset) {
            push_key(path, key.get_ref());
            value_path(value.get_ref(), offset, path);
            return true;
        }
    }
    false
}

fn value_path(value: &DeValue<'_>, offset: usize, path: &mut String) {
    match value {
        DeValue::Table(t) => {
            table_path(t, offset, path);
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.span().contains(&offset) || contains_offset(item.get_ref(), offset) {
                    path.push_str(&format!("[{i}]"));
                    value_path(item.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Whether any key or value inside `value` covers `offset`: the spans of tables declared with
/// a `[header]` do not always cover their keys, so look inside.
fn contains_offset(value: &DeValue<'_>, offset: usize) -> bool {
    match value {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&offset)
                || v.span().contains(&offset)
                || contains_offset(v.get_ref(), offset)
        }),
        DeValue::Array(items) => items
            .iter()
            .any(|i| i.span().contains(&offset) || contains_offset(i.get_ref(), offset)),
        _ => false,
    }
}

/// The span of the value at `keys` (`["sandbox", "fuel_per_evaluation"]`), read from a
/// span-preserving parse of the text; `None` when the file does not give it.
pub(super) fn value_span(text: &str, keys: &[&str]) -> Option<Range<usize>> {
    let (root, _) = DeTable::parse_recoverable(text);
    let (last, sections) = keys.split_last()?;
    let mut table = root.get_ref();
    for key in sections {
        match table.get(*key)?.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    Some(table.get(*last)?.span())
}
