use hookstream_model::{Category, ChangeOp};

use super::parse_batch;

#[test]
fn accepts_one_a_list_or_a_wrapped_list() {
    let one = parse_batch(
        br#"{"category":1,"id":7,"op":"create","data":{"id":7, "name":"Doom"}}"#,
        10,
    )
    .expect("valid");
    assert_eq!(one.len(), 1);
    assert_eq!(
        (one[0].category, one[0].entity_id, one[0].op),
        (Category::Game, 7, ChangeOp::Create)
    );
    // The entity's JSON text is kept byte for byte, spacing included.
    assert_eq!(one[0].data, r#"{"id":7, "name":"Doom"}"#);

    let list = parse_batch(br#"[{"category":"platform","id":1,"op":"update","data":{}},{"category":23,"id":2,"op":"create","data":{"a":[1]}}]"#, 10).expect("valid");
    assert_eq!(
        list.iter().map(|c| c.category).collect::<Vec<_>>(),
        [Category::Platform, Category::Title]
    );
    assert_ne!(list[0].change_id, list[1].change_id);

    let wrapped = parse_batch(
        br#"{"changes":[{"category":1,"id":1,"op":"update","data":{}}]}"#,
        10,
    )
    .expect("valid");
    assert_eq!(wrapped.len(), 1);
}

#[track_caller]
fn bad(body: &str, max_batch: usize, fields: &[&str]) {
    let errors = parse_batch(body.as_bytes(), max_batch).expect_err("must be rejected");
    let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(got, fields, "{errors:?}");
}

#[test]
fn rejects_the_whole_batch_with_every_problem() {
    bad("{", 10, &["body"]);
    bad("42", 10, &["body"]);
    bad("[]", 10, &["changes"]);
    bad(r#"{"changes":"x"}"#, 10, &["changes"]);
    bad(
        r#"[{"category":1,"id":1,"op":"update","data":{}},{"category":1,"id":1,"op":"update","data":{}}]"#,
        1,
        &["changes"],
    );
    bad(
        r#"{"category":0,"id":-1,"op":"delete","data":[1]}"#,
        10,
        &[
            "changes[0].category",
            "changes[0].id",
            "changes[0].op",
            "changes[0].data",
        ],
    );
    bad(
        r#"[{"category":1,"id":1,"op":"update","data":{}},{"category":"games","id":1,"op":"update","data":{}}]"#,
        10,
        &["changes[1].category"],
    );
    bad(
        r#"[{"category":1,"id":1,"op":"update"}]"#,
        10,
        &["changes[0].data"],
    );
    bad(r#"[1]"#, 10, &["changes[0].body"]);
}
