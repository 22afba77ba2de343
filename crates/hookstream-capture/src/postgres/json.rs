//! PostgreSQL values (text output format) as JSON text, written directly so that numbers keep
//! every digit and column order is the table's.
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | `int2`, `int4`, `int8`, `oid`, `float4`, `float8`, `numeric` | a number, digits as stored (`NaN`, `Infinity`: a string) |
//! | `timestamptz`, `timestamp` (read as UTC) | unix seconds, like IGDB (`infinity`: a string) |
//! | `json`, `jsonb` | the value itself |
//! | arrays of the above | arrays, nested for more dimensions, `NULL` as `null` |
//! | anything else (`text`, `varchar`, `uuid`, `date`, `bytea`, …) | a string of the text form |
//! | SQL `NULL` | `null` |

use chrono::{DateTime, NaiveDateTime};

use super::pgoutput::{Datum, Relation, Tuple};

mod oid {
    pub const BOOL: u32 = 16;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const JSONB: u32 = 3802;
    pub const TEXT: u32 = 25;
}

/// The element type of an array type, for the arrays hookstream maps.
fn element_of(array_oid: u32) -> Option<u32> {
    Some(match array_oid {
        1000 => oid::BOOL,
        1005 => oid::INT2,
        1007 => oid::INT4,
        1016 => oid::INT8,
        1028 => oid::OID,
        1021 => oid::FLOAT4,
        1022 => oid::FLOAT8,
        1231 => oid::NUMERIC,
        199 => oid::JSON,
        3807 => oid::JSONB,
        1115 => oid::TIMESTAMP,
        1185 => oid::TIMESTAMPTZ,
        // text[], varchar[], bpchar[], name[], uuid[], date[]: strings.
        1009 | 1015 | 1014 | 1003 | 2951 | 1182 => oid::TEXT,
        _ => return None,
    })
}

/// Appends the JSON of a value of type `type_oid` whose text form is `text`.
pub fn write_value(out: &mut String, type_oid: u32, text: &str) {
    match type_oid {
        oid::BOOL => out.push_str(if text == "t" { "true" } else { "false" }),
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID => match text.parse::<i64>() {
            Ok(_) => out.push_str(text),
            Err(_) => write_string(out, text),
        },
        oid::FLOAT4 | oid::FLOAT8 | oid::NUMERIC => {
            if serde_json::from_str::<serde_json::Number>(text).is_ok() {
                out.push_str(text);
            } else {
                write_string(out, text);
            }
        }
        oid::JSON | oid::JSONB => out.push_str(text),
        oid::TIMESTAMPTZ => match DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z") {
            Ok(at) => out.push_str(&at.timestamp().to_string()),
            Err(_) => write_string(out, text),
        },
        oid::TIMESTAMP => match NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
            Ok(at) => out.push_str(&at.and_utc().timestamp().to_string()),
            Err(_) => write_string(out, text),
        },
        array if element_of(array).is_some() => {
            let element = element_of(array).unwrap_or(oid::TEXT);
            if !write_array(out, element, text) {
                write_string(out, text);
            }
        }
        _ => write_string(out, text),
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).expect("a string always serializes"));
}

/// Writes a PostgreSQL array literal (`{1,2}`, `{{1,2},{3,4}}`, `{"a b",NULL}`, with an
/// optional `[1:2]=` bounds prefix). Returns false, writing nothing, if it does not parse.
fn write_array(out: &mut String, element: u32, text: &str) -> bool {
    let body = match text.find('=') {
        Some(eq) if text.starts_with('[') => &text[eq + 1..],
        _ => text,
    };
    let mut json = String::new();
    let mut chars = body.chars().peekable();
    if parse_array(&mut chars, element, &mut json) && chars.next().is_none() {
        out.push_str(&json);
        true
    } else {
        false
    }
}

fn parse_array(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    element: u32,
    out: &mut String,
) -> bool {
    if chars.next() != Some('{') {
        return false;
    }
    out.push('[');
    if chars.peek() == Some(&'}') {
        chars.next();
        out.push(']');
        return true;
    }
    loop {
        match chars.peek() {
            Some('{') => {
                if !parse_array(chars, element, out) {
                    return false;
                }
            }
            Some('"') => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some(c) => value.push(c),
                            None => return false,
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return false,
                    }
                }
                write_value(out, element, &value);
            }
            Some(_) => {
                let mut value = String::new();
                while let Some(c) = chars.peek() {
                    if *c == ',' || *c == '}' {
                        break;
                    }
                    value.push(*c);
                    chars.next();
                }
                if value.eq_ignore_ascii_case("NULL") {
                    out.push_str("null");
                } else {
                    write_value(out, element, value.trim());
                }
            }
            None => return false,
        }
        match chars.next() {
            Some(',') => out.push(','),
            Some('}') => {
                out.push(']');
                return true;
            }
            _ => return false,
        }
    }
}

/// A row that cannot be turned into an entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("column {column} is an unchanged TOASTed value and the old row was not sent; set REPLICA IDENTITY FULL on the table")]
    UnchangedToast { column: String },
    #[error("column {column} came in binary format")]
    Binary { column: String },
    #[error("row has {values} values for {columns} columns")]
    Arity { values: usize, columns: usize },
    #[error("id column {column:?} is missing, null or not an integer")]
    BadId { column: String },
}

/// The row after the change as a JSON object, unchanged TOASTed values taken from `old`.
pub fn row_json(relation: &Relation, new: &Tuple, old: Option<&Tuple>) -> Result<String, RowError> {
    if new.0.len() != relation.columns.len() {
        return Err(RowError::Arity {
            values: new.0.len(),
            columns: relation.columns.len(),
        });
    }
    let mut out = String::with_capacity(64 * new.0.len());
    out.push('{');
    for (i, (column, datum)) in relation.columns.iter().zip(&new.0).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, &column.name);
        out.push(':');
        let datum = match datum {
            Datum::Unchanged => old
                .and_then(|o| o.0.get(i))
                .filter(|d| !matches!(d, Datum::Unchanged))
                .ok_or_else(|| RowError::UnchangedToast {
                    column: column.name.clone(),
                })?,
            other => other,
        };
        match datum {
            Datum::Null => out.push_str("null"),
            Datum::Text(text) => write_value(&mut out, column.type_oid, text),
            Datum::Binary(_) | Datum::Unchanged => {
                return Err(RowError::Binary {
                    column: column.name.clone(),
                })
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// The entity id: the integer value of `id_column`.
pub fn entity_id(relation: &Relation, new: &Tuple, id_column: &str) -> Result<i64, RowError> {
    let bad = || RowError::BadId {
        column: id_column.to_owned(),
    };
    let index = relation
        .columns
        .iter()
        .position(|c| c.name == id_column)
        .ok_or_else(bad)?;
    match new.0.get(index) {
        Some(Datum::Text(text)) => text.parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests;
