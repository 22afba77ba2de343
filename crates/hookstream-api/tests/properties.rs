//! Properties of the registration parsers: the three encodings of one registration parse to
//! the same webhook, and no body makes a parser panic or answer an error without a field.

use hookstream_api::registration::parse;
use proptest::prelude::*;

const FIELDS: [&str; 5] = ["body", "url", "category", "secret", "webhook"];

fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_nested_form_and_flat_form_agree(
        host in "[a-z]{1,12}(\\.[a-z]{2,6}){1,2}",
        path in "(/[a-zA-Z0-9._~-]{0,12}){0,3}",
        https in any::<bool>(),
        category in 1i64..=23,
        secret in "[ -~]{1,64}",
    ) {
        let url = format!("{}://{host}{path}", if https { "https" } else { "http" });
        let json = serde_json::json!({"webhook": {"url": url, "category": category, "secret": secret}});
        let nested = format!(
            "webhook%5Burl%5D={}&webhook%5Bcategory%5D={category}&webhook%5Bsecret%5D={}",
            form_encode(&url),
            form_encode(&secret)
        );
        let flat = format!("url={}&category={category}&secret={}", form_encode(&url), form_encode(&secret));
        let from_json = parse(Some("application/json"), json.to_string().as_bytes());
        let from_nested = parse(Some("application/x-www-form-urlencoded"), nested.as_bytes());
        let from_flat = parse(Some("application/x-www-form-urlencoded"), flat.as_bytes());
        let webhook = from_json.expect("a valid JSON registration parses");
        prop_assert_eq!(&from_nested.expect("the nested form parses"), &webhook);
        prop_assert_eq!(&from_flat.expect("the flat form parses"), &webhook);
        prop_assert_eq!(webhook.category.key() as i64, category);
        prop_assert_eq!(&webhook.secret, &secret);
    }

    #[test]
    fn arbitrary_bodies_parse_or_name_a_field(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        json in any::<bool>(),
    ) {
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        if let Err(errors) = parse(Some(content_type), &body) {
            prop_assert!(!errors.is_empty());
            for error in errors {
                prop_assert!(FIELDS.contains(&error.field.as_str()), "{:?}", error);
                prop_assert!(!error.message.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_field_values_parse_or_name_a_field(
        url in "\\PC{0,60}",
        category in "\\PC{0,8}",
        secret in "\\PC{0,80}",
    ) {
        let body = format!("url={}&category={}&secret={}", form_encode(&url), form_encode(&category), form_encode(&secret));
        if let Err(errors) = parse(Some("application/x-www-form-urlencoded"), body.as_bytes()) {
            for error in errors {
                prop_assert!(FIELDS.contains(&error.field.as_str()), "{:?}", error);
            }
        }
    }
}
