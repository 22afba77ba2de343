//! Parsing and validating a registration body: JSON, the nested form
//! (`webhook[url]=…`) or the flat form (`url=…`). Pure: no I/O, every problem reported at once.

use hookstream_model::Category;
use serde_json::Value;

use crate::FieldError;

/// Longest accepted secret, in bytes.
pub const MAX_SECRET_BYTES: usize = 256;
/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// A registration that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub category: Category,
    pub secret: String,
}

/// A field as the client sent it, before validation.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Text(String),
    Number(Value),
    /// Any other JSON type, by name.
    Other(&'static str),
}

#[derive(Debug, Default)]
struct RawFields {
    url: Option<Raw>,
    category: Option<Raw>,
    secret: Option<Raw>,
}

/// Parses and validates a registration body of the given `Content-Type`.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<NewWebhook, Vec<FieldError>> {
    let fields = match body_kind(content_type, body)? {
        Kind::Json => from_json(body)?,
        Kind::Form => from_form(body)?,
    };
    validate(fields)
}

enum Kind {
    Json,
    Form,
}

fn body_kind(content_type: Option<&str>, body: &[u8]) -> Result<Kind, Vec<FieldError>> {
    let essence = content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json") => Ok(Kind::Json),
        Some("application/x-www-form-urlencoded") => Ok(Kind::Form),
        // No type given: a JSON body starts with `{`, anything else is read as a form.
        None | Some("") => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(Kind::Json),
            _ => Ok(Kind::Form),
        },
        Some(other) => Err(vec![FieldError::new(
            "body",
            format!(
                "unsupported Content-Type {other:?}: send application/json or application/x-www-form-urlencoded"
            ),
        )]),
    }
}

fn from_json(body: &[u8]) -> Result<RawFields, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![FieldError::new("body", format!("malformed JSON: {e}"))])?;
    let Value::Object(mut top) = value else {
        return Err(vec![FieldError::new(
            "body",
            "expected a JSON object such as {\"webhook\": {\"url\": …, \"category\": 1, \"secret\": …}}",
        )]);
    };
    let mut object = match top.remove("webhook") {
        Some(Value::Object(inner)) => inner,
        Some(_) => {
            return Err(vec![FieldError::new(
                "webhook",
                "must be an object with url, category and secret",
            )])
        }
        None => top,
    };
    let mut take = |name: &str| object.remove(name).map(raw_from_json);
    Ok(RawFields {
        url: take("url"),
        category: take("category"),
        secret: take("secret"),
    })
}

fn raw_from_json(value: Value) -> Raw {
    match value {
        Value::String(s) => Raw::Text(s),
        Value::Number(_) => Raw::Number(value),
        Value::Null => Raw::Other("null"),
        Value::Bool(_) => Raw::Other("a boolean"),
        Value::Array(_) => Raw::Other("an array"),
        Value::Object(_) => Raw::Other("an object"),
    }
}

fn from_form(body: &[u8]) -> Result<RawFields, Vec<FieldError>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| vec![FieldError::new("body", "form body is not valid UTF-8")])?;
    let mut fields = RawFields::default();
    let mut errors = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(value)) = (form_decode(key), form_decode(value)) else {
            errors.push(FieldError::new(
                "body",
                "form field is not valid percent-encoded UTF-8",
            ));
            continue;
        };
        let name = key
            .strip_prefix("webhook[")
            .and_then(|k| k.strip_suffix(']'))
            .unwrap_or(&key);
        let slot = match name {
            "url" => &mut fields.url,
            "category" => &mut fields.category,
            "secret" => &mut fields.secret,
            _ => continue,
        };
        if slot.is_some() {
            errors.push(FieldError::new(name, "given more than once"));
        }
        *slot = Some(Raw::Text(value));
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value; `None` if not UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn validate(fields: RawFields) -> Result<NewWebhook, Vec<FieldError>> {
    let mut errors = Vec::new();
    let url = required_text(&mut errors, "url", fields.url).and_then(|u| check_url(&mut errors, u));
    let category = check_category(&mut errors, fields.category);
    let secret = required_text(&mut errors, "secret", fields.secret)
        .and_then(|s| check_secret(&mut errors, s));
    match (url, category, secret) {
        (Some(url), Some(category), Some(secret)) if errors.is_empty() => Ok(NewWebhook {
            url,
            category,
            secret,
        }),
        _ => Err(errors),
    }
}

fn required_text(errors: &mut Vec<FieldError>, name: &str, raw: Option<Raw>) -> Option<String> {
    match raw {
        None => errors.push(FieldError::new(name, "is required")),
        Some(Raw::Text(text)) => return Some(text),
        Some(Raw::Number(_)) => {
            errors.push(FieldError::new(name, "must be a string, not a number"))
        }
        Some(Raw::Other(kind)) => errors.push(FieldError::new(
            name,
            format!("must be a string, not {kind}"),
        )),
    }
    None
}

fn check_url(errors: &mut Vec<FieldError>, text: String) -> Option<String> {
    let mut fail = |message: &str| {
        errors.push(FieldError::new("url", message));
        None
    };
    if text.len() > MAX_URL_BYTES {
        return fail(&format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    let parsed = match url::Url::parse(text.trim()) {
        Ok(u) => u,
        Err(e) => return fail(&format!("is not a valid absolute URL ({e})")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return fail("must be an http or https URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return fail("must not contain credentials (user:password@)");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return fail("must name a host");
    }
    if parsed.fragment().is_some() {
        return fail("must not contain a fragment (#…): it is never sent to the server");
    }
    Some(parsed.into())
}

fn check_category(errors: &mut Vec<FieldError>, raw: Option<Raw>) -> Option<Category> {
    const HINT: &str = "must be one of the 23 category keys, 1 (Game) to 23 (Title)";
    let key = match raw {
        None => {
            errors.push(FieldError::new("category", "is required"));
            return None;
        }
        Some(Raw::Number(n)) => n.as_i64(),
        Some(Raw::Text(t)) => t.trim().parse::<i64>().ok(),
        Some(Raw::Other(_)) => None,
    };
    match key.map(Category::from_key) {
        Some(Ok(category)) => Some(category),
        _ => {
            errors.push(FieldError::new("category", HINT));
            None
        }
    }
}

fn check_secret(errors: &mut Vec<FieldError>, secret: String) -> Option<String> {
    if secret.is_empty() {
        errors.push(FieldError::new("secret", "must not be empty"));
        None
    } else if secret.len() > MAX_SECRET_BYTES {
        errors.push(FieldError::new(
            "secret",
            format!("must be at most {MAX_SECRET_BYTES} bytes"),
        ));
        None
    } else {
        Some(secret)
    }
}

#[cfg(test)]
mod tests;
