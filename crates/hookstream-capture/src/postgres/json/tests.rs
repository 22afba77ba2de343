use super::*;
use crate::postgres::pgoutput::Column;

#[track_caller]
fn check(type_oid: u32, text: &str, json: &str) {
    let mut out = String::new();
    write_value(&mut out, type_oid, text);
    assert_eq!(out, json, "{type_oid} {text:?}");
    serde_json::from_str::<serde_json::Value>(&out).expect("valid JSON");
}

#[test]
fn type_mapping() {
    check(16, "t", "true");
    check(16, "f", "false");
    check(21, "-7", "-7");
    check(23, "2147483647", "2147483647");
    check(20, "9223372036854775807", "9223372036854775807");
    check(701, "92.5", "92.5");
    check(701, "NaN", r#""NaN""#);
    check(700, "-Infinity", r#""-Infinity""#);
    check(
        1700,
        "12345678901234567890.123456789",
        "12345678901234567890.123456789",
    );
    check(25, "The Witcher \"3\"\n", r#""The Witcher \"3\"\n""#);
    check(1043, "ü", r#""ü""#);
    check(
        2950,
        "0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10",
        r#""0b6c5cf4-1a7f-4c59-9d3e-6f0f1d2a7b10""#,
    );
    check(1082, "2026-12-03", r#""2026-12-03""#);
    check(1184, "2015-05-19 00:00:00+00", "1431993600");
    check(1184, "2015-05-19 02:00:00.999+02", "1431993600");
    check(1184, "2015-05-19 05:30:00+05:30", "1431993600");
    check(1184, "infinity", r#""infinity""#);
    check(1114, "2015-05-19 00:00:00", "1431993600");
    check(
        3802,
        r#"{"a": [1, 2], "b": null}"#,
        r#"{"a": [1, 2], "b": null}"#,
    );
    check(114, "[1,2]", "[1,2]");
    check(1007, "{1,2,3}", "[1,2,3]");
    check(1016, "{}", "[]");
    check(1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
    check(1007, "[0:1]={5,6}", "[5,6]");
    check(
        1009,
        r#"{plain,"with space","quote \" and \\ back",NULL}"#,
        r#"["plain","with space","quote \" and \\ back",null]"#,
    );
    check(1000, "{t,f}", "[true,false]");
    check(1231, "{1.50,NaN}", r#"[1.50,"NaN"]"#);
    check(1185, r#"{"2015-05-19 00:00:00+00"}"#, "[1431993600]");
    check(3807, r#"{"{\"a\": 1}"}"#, r#"[{"a": 1}]"#);
    check(1007, "{1,2", r#""{1,2""#);
    check(17, "\\x00ff", r#""\\x00ff""#);
}

fn relation() -> Relation {
    let column = |name: &str, type_oid| Column {
        key: name == "id",
        name: name.into(),
        type_oid,
        type_modifier: -1,
    };
    Relation {
        id: 1,
        namespace: "public".into(),
        name: "games".into(),
        replica_identity: b'f',
        columns: vec![
            column("id", 20),
            column("name", 25),
            column("summary", 25),
            column("rating", 1700),
        ],
    }
}

#[test]
fn rows_keep_column_order_and_take_unchanged_toast_from_the_old_row() {
    let new = Tuple(vec![
        Datum::Text("1942".into()),
        Datum::Text("The Witcher 3".into()),
        Datum::Unchanged,
        Datum::Null,
    ]);
    let old = Tuple(vec![
        Datum::Text("1942".into()),
        Datum::Text("Witcher".into()),
        Datum::Text("long summary".into()),
        Datum::Null,
    ]);
    assert_eq!(
        row_json(&relation(), &new, Some(&old)),
        Ok(r#"{"id":1942,"name":"The Witcher 3","summary":"long summary","rating":null}"#.into())
    );
    assert_eq!(
        row_json(&relation(), &new, None),
        Err(RowError::UnchangedToast {
            column: "summary".into()
        })
    );
    assert_eq!(entity_id(&relation(), &new, "id"), Ok(1942));
    assert!(entity_id(&relation(), &new, "name").is_err());
    assert!(entity_id(&relation(), &new, "nope").is_err());
    let short = Tuple(vec![Datum::Null]);
    assert!(matches!(
        row_json(&relation(), &short, None),
        Err(RowError::Arity { .. })
    ));
}
