//! The unit of every HTTP error body of hookstream: `{"errors": [{"field", "message"}]}`.

use serde::Serialize;

/// One problem with a request, named by the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
