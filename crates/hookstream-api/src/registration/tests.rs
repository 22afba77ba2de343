use hookstream_model::Category;

use super::{parse, NewWebhook};

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[track_caller]
fn ok(content_type: Option<&str>, body: &str, url: &str, category: Category, secret: &str) {
    assert_eq!(
        parse(content_type, body.as_bytes()),
        Ok(NewWebhook {
            url: url.into(),
            category,
            secret: secret.into()
        })
    );
}

/// Checks that `body` is rejected with exactly these `(field, message fragment)` errors.
#[track_caller]
fn bad(content_type: Option<&str>, body: &[u8], expected: &[(&str, &str)]) {
    let errors = parse(content_type, body).expect_err("must be rejected");
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((field, message), (want_field, fragment)) in got.iter().zip(expected) {
        assert_eq!(field, want_field, "{got:?}");
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

#[test]
fn accepted_shapes() {
    let url = "https://example.com/hook";
    ok(
        JSON,
        r#"{"webhook":{"url":"https://example.com/hook","category":1,"secret":"s"}}"#,
        url,
        Category::Game,
        "s",
    );
    ok(
        JSON,
        r#"{"url":"https://example.com/hook","category":"23","secret":"s"}"#,
        url,
        Category::Title,
        "s",
    );
    ok(
        Some("application/json; charset=utf-8"),
        r#"{"webhook":{"url":"https://example.com/hook","category":2,"secret":"s","extra":true}}"#,
        url,
        Category::Person,
        "s",
    );
    ok(FORM, "webhook%5Burl%5D=https%3A%2F%2Fexample.com%2Fhook&webhook%5Bcategory%5D=11&webhook%5Bsecret%5D=a+b", url, Category::Platform, "a b");
    ok(
        FORM,
        "webhook[url]=https://example.com/hook&webhook[category]=1&webhook[secret]=s",
        url,
        Category::Game,
        "s",
    );
    ok(
        FORM,
        "url=https://example.com/hook&category=21&secret=%C3%BC",
        url,
        Category::GameVersion,
        "ü",
    );
    ok(
        None,
        r#" {"webhook":{"url":"https://example.com/hook","category":1,"secret":"s"}}"#,
        url,
        Category::Game,
        "s",
    );
    ok(
        None,
        "url=https://example.com/hook&category=1&secret=s",
        url,
        Category::Game,
        "s",
    );
    // The URL is normalised by the parser (lower-case host, explicit path).
    ok(
        JSON,
        r#"{"url":"http://EXAMPLE.com","category":1,"secret":"s"}"#,
        "http://example.com/",
        Category::Game,
        "s",
    );
    ok(
        JSON,
        &format!(
            r#"{{"url":"http://a.example/","category":1,"secret":"{}"}}"#,
            "x".repeat(256)
        ),
        "http://a.example/",
        Category::Game,
        &"x".repeat(256),
    );
}

#[test]
fn rejected_inputs() {
    bad(JSON, b"{", &[("body", "malformed JSON")]);
    bad(JSON, b"[1,2]", &[("body", "expected a JSON object")]);
    bad(JSON, b"\xff\xfe", &[("body", "malformed JSON")]);
    bad(
        JSON,
        br#"{"webhook":"x"}"#,
        &[("webhook", "must be an object")],
    );
    bad(
        JSON,
        br#"{"webhook":{}}"#,
        &[
            ("url", "is required"),
            ("category", "is required"),
            ("secret", "is required"),
        ],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"ftp://example.com/","category":1,"secret":"s"}}"#,
        &[("url", "http or https")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://user:pw@example.com/","category":1,"secret":"s"}}"#,
        &[("url", "credentials")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://user@example.com/","category":1,"secret":"s"}}"#,
        &[("url", "credentials")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"http://127.0.0.1#@evil.example/","category":1,"secret":"s"}}"#,
        &[("url", "fragment")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"/relative","category":1,"secret":"s"}}"#,
        &[("url", "valid absolute URL")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":42,"category":1,"secret":"s"}}"#,
        &[("url", "not a number")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":0,"secret":"s"}}"#,
        &[("category", "1 (Game) to 23 (Title)")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":24,"secret":"s"}}"#,
        &[("category", "23 category keys")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":1.5,"secret":"s"}}"#,
        &[("category", "23 category keys")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":"game","secret":"s"}}"#,
        &[("category", "23 category keys")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":null,"secret":"s"}}"#,
        &[("category", "23 category keys")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":1,"secret":""}}"#,
        &[("secret", "must not be empty")],
    );
    bad(
        JSON,
        format!(
            r#"{{"webhook":{{"url":"https://e.example/","category":1,"secret":"{}"}}}}"#,
            "x".repeat(257)
        )
        .as_bytes(),
        &[("secret", "at most 256 bytes")],
    );
    bad(
        JSON,
        br#"{"webhook":{"url":"https://e.example/","category":1,"secret":["s"]}}"#,
        &[("secret", "not an array")],
    );
    bad(
        JSON,
        format!(
            r#"{{"url":"https://e.example/{}","category":1,"secret":"s"}}"#,
            "a".repeat(2100)
        )
        .as_bytes(),
        &[("url", "at most 2048 bytes")],
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    bad(JSON, deep.as_bytes(), &[("body", "malformed JSON")]);
    bad(
        FORM,
        b"url=https://e.example/&category=1",
        &[("secret", "is required")],
    );
    bad(
        FORM,
        b"url=https://e.example/&category=1&secret=s&secret=t",
        &[("secret", "more than once")],
    );
    bad(
        FORM,
        b"webhook[url]=https://e.example/&url=https://f.example/&category=1&secret=s",
        &[("url", "more than once")],
    );
    bad(
        FORM,
        b"url=https://e.example/&category=1&secret=%FF",
        &[("body", "percent-encoded UTF-8")],
    );
    bad(
        FORM,
        b"url=https://e.example/&category=1&secret=\xff",
        &[("body", "not valid UTF-8")],
    );
    bad(
        Some("text/plain"),
        b"url=x",
        &[("body", "unsupported Content-Type")],
    );
}
