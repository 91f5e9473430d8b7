//! tooz's file-driver records, byte for byte (wire format §4.2, vector V4): a group's
//! `.metadata` and a member's `<sha1>.raw`, both msgpack as oslo.serialization packs them.
//! Encoding and decoding only; where the files go is `groups`' business.

use chrono::{Datelike, Timelike};
use rmpv::Value;

use crate::coordination::Capabilities;

/// Lowercase hex SHA-1 of the UTF-8 bytes, as tooz names group and member files.
pub(super) fn sha1_hex(s: &str) -> String {
    sha1_smol::Sha1::from(s.as_bytes()).digest().to_string()
}

/// `.metadata`: `{"group_id": <bin>, "encoded": false}`.
pub(super) fn metadata(group: &str) -> Vec<u8> {
    encode(&Value::Map(vec![
        (key("group_id"), Value::Binary(group.as_bytes().to_vec())),
        (key("encoded"), Value::Boolean(false)),
    ]))
}

/// `<sha1(member)>.raw`: capabilities, `joined_on` (naive local time), member id as bin,
/// `encoded` false, in tooz's key order.
pub(super) fn member_record(
    member: &str,
    caps: &Capabilities,
    joined_on: chrono::NaiveDateTime,
) -> Vec<u8> {
    encode(&Value::Map(vec![
        (key("capabilities"), caps.value().clone()),
        (key("joined_on"), datetime_ext(joined_on)),
        (key("member_id"), Value::Binary(member.as_bytes().to_vec())),
        (key("encoded"), Value::Boolean(false)),
    ]))
}

fn key(k: &str) -> Value {
    Value::String(k.into())
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("writing to a Vec cannot fail");
    out
}

/// oslo.serialization's datetime: ext type 1 around a map with str keys in this order.
fn datetime_ext(t: chrono::NaiveDateTime) -> Value {
    let fields = [
        ("day", t.day()),
        ("month", t.month()),
        ("year", t.year() as u32),
        ("hour", t.hour()),
        ("minute", t.minute()),
        ("second", t.second()),
        ("microsecond", (t.nanosecond() / 1000).min(999_999)),
    ];
    let map = Value::Map(
        fields
            .iter()
            .map(|(k, v)| (key(k), Value::from(*v)))
            .collect(),
    );
    Value::Ext(1, encode(&map))
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn map_get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(key, _)| text_of(key).as_deref() == Some(k))
        .map(|(_, v)| v)
}

fn decode(bytes: &[u8]) -> Option<Value> {
    let mut rd = bytes;
    rmpv::decode::read_value(&mut rd).ok()
}

/// See `groups::Record::stamp`.
pub(super) fn stamp(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// A member record: (member id, capabilities), as tooz reads it (`joined_on` required).
pub(super) fn decode_member(bytes: &[u8]) -> Option<(String, Capabilities)> {
    let v = decode(bytes)?;
    let id = text_of(map_get(&v, "member_id")?)?;
    if !matches!(map_get(&v, "joined_on"), Some(Value::Ext(1, _))) {
        return None;
    }
    let caps = map_get(&v, "capabilities").cloned().unwrap_or(Value::Nil);
    let caps = Capabilities::from_msgpack(&encode(&caps)).ok()?;
    Some((id, caps))
}

pub(super) fn decode_group_id(bytes: &[u8]) -> Option<String> {
    text_of(map_get(&decode(bytes)?, "group_id")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn layout_matches_tooz_vector_v4() {
        assert_eq!(
            sha1_hex("spec_g"),
            "1f2bd46530ac1ca291b996bac1efaa41676e30a7"
        );
        assert_eq!(
            sha1_hex("spec-m1"),
            "afa134379f5b33ce4b0a073ad02a7291a9598d79"
        );
        assert_eq!(
            hex(&metadata("spec_g")),
            "82a867726f75705f6964c406737065635f67a7656e636f646564c2"
        );
        let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 6)
            .unwrap();
        let caps = Capabilities::from_json_text(r#"{"weight": 1}"#).unwrap();
        let bytes = member_record("spec-m1", &caps, t);
        assert_eq!(
            hex(&bytes),
            "84ac6361706162696c697469657381a677656967687401a96a6f696e65645f6f6ec7380187a364617902a56d6f6e746801a479656172cd07e8a4686f757203a66d696e75746504a67365636f6e6405ab6d6963726f7365636f6e6406a96d656d6265725f6964c407737065632d6d31a7656e636f646564c2"
        );
        let (id, c) = decode_member(&bytes).unwrap();
        assert_eq!(id, "spec-m1");
        assert_eq!(c.to_json(), serde_json::json!({"weight": 1}));
        assert_eq!(
            decode_group_id(&metadata("spec_g")).as_deref(),
            Some("spec_g")
        );
    }

    #[test]
    fn a_record_without_joined_on_is_refused_as_tooz_refuses_it() {
        let v = Value::Map(vec![(key("member_id"), Value::Binary(b"m".to_vec()))]);
        assert!(decode_member(&encode(&v)).is_none());
    }
}
