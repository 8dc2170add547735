//! Drift check against the service model (botocore's `service-2.json`, documentation
//! stripped): every operation exists, and every input member of every operation is a member
//! our request shapes know (a wrongly typed value for it is rejected instead of ignored).

use s9_wire::{ErrorCode, Operation, Request};
use serde_json::{Value, json};

fn model() -> Value {
    let text = include_str!("../model/secretsmanager-2017-10-17.json");
    serde_json::from_str(text).expect("model parses")
}

#[test]
fn operations_match_the_model() {
    let model = model();
    let mut names: Vec<&str> = model["operations"]
        .as_object()
        .expect("operations")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    let mut ours: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
    ours.sort_unstable();
    assert_eq!(names, ours);
}

#[test]
fn every_input_member_is_known() {
    let model = model();
    let shapes = &model["shapes"];
    for op in Operation::ALL {
        let input = model["operations"][op.name()]["input"]["shape"]
            .as_str()
            .expect("input shape");
        for (member, spec) in shapes[input]["members"].as_object().expect("members") {
            let kind = shapes[spec["shape"].as_str().expect("shape")]["type"]
                .as_str()
                .expect("type");
            let wrong = if kind == "structure" {
                json!(7)
            } else {
                json!({"unexpected": true})
            };
            let body = serde_json::to_vec(&json!({ member: wrong })).expect("body");
            let err = Request::decode(*op, &body)
                .expect_err(&format!("{}.{member} accepted a wrong type", op.name()));
            assert_eq!(
                err.code,
                ErrorCode::Serialization,
                "{}.{member} is not a known member",
                op.name()
            );
        }
    }
}
