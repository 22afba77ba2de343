//! Any body given to the registration parsers, as JSON and as a form: a webhook or errors
//! that each name a field, never a panic.
#![no_main]

use hookstream_api::registration::parse;
use libfuzzer_sys::fuzz_target;

const FIELDS: [&str; 5] = ["body", "url", "category", "secret", "webhook"];

fuzz_target!(|data: &[u8]| {
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        match parse(Some(content_type), data) {
            Ok(webhook) => {
                assert!(!webhook.secret.is_empty());
                assert!(webhook.url.starts_with("http://") || webhook.url.starts_with("https://"));
            }
            Err(errors) => {
                assert!(!errors.is_empty());
                for e in errors {
                    assert!(FIELDS.contains(&e.field.as_str()), "{e:?}");
                }
            }
        }
    }
});
