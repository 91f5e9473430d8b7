//! Member capabilities: given by users as JSON, stored as tooz stores them (msgpack as
//! oslo.serialization packs it, `use_bin_type=True`), shown back as JSON.
//!
//! Writing follows the wire format's rule for tooz-readable values: str keys, the smallest
//! integer encoding, float64, nil for "no capabilities". Reading accepts whatever tooz may
//! have written, including bin strings and oslo's ext types, and turns each into the
//! closest JSON (bin as UTF-8 text when it is, else `{"$bin": hex}`; ext as `{"$ext": n, …}`).

use rmpv::Value;

use super::Error;

/// The deepest nesting read from a backend (tooz capabilities are a flat dict or two).
const MAX_DEPTH: usize = 64;

/// A member's capabilities, as the msgpack value tooz reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities(Value);

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities(Value::Nil)
    }
}

impl Capabilities {
    /// Parse user JSON (`--capabilities '{"role": "api"}'`).
    pub fn from_json_text(text: &str) -> Result<Capabilities, Error> {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("capabilities are not valid JSON: {e}")))?;
        Ok(Capabilities::from_json(&json))
    }

    pub fn from_json(json: &serde_json::Value) -> Capabilities {
        Capabilities(json_to_msgpack(json))
    }

    /// Decode what a backend stored. Empty data means "none" (tooz's ZooKeeper and etcd
    /// readers treat it so); anything else must be one msgpack value.
    pub fn from_msgpack(bytes: &[u8]) -> Result<Capabilities, Error> {
        if bytes.is_empty() {
            return Ok(Capabilities::default());
        }
        let mut rd = bytes;
        // Any tooz client can store anything here: bound the nesting (rmpv's own limit of
        // 1024 levels still overflows a small stack on the way back through to_json).
        let v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
            .map_err(|e| Error::Internal(format!("capabilities are not msgpack: {e}")))?;
        if !rd.is_empty() {
            return Err(Error::Internal(format!(
                "capabilities have {} bytes after the msgpack value",
                rd.len()
            )));
        }
        Ok(Capabilities(v))
    }

    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &self.0).expect("writing to a Vec cannot fail");
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        msgpack_to_json(&self.0, 0)
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn is_none(&self) -> bool {
        self.0.is_nil()
    }
}

fn json_to_msgpack(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        J::String(s) => Value::String(s.clone().into()),
        J::Array(a) => Value::Array(a.iter().map(json_to_msgpack).collect()),
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (Value::String(k.clone().into()), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `depth` counts ext values opened on the way (each holds a msgpack value of its own), so
/// ext-in-ext chains stay bounded too.
fn msgpack_to_json(v: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => {
            if let Some(x) = i.as_i64() {
                J::from(x)
            } else {
                J::from(i.as_u64().unwrap_or(0))
            }
        }
        Value::F32(f) => serde_json::Number::from_f64(*f as f64)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::F64(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::String(s) => match s.as_str() {
            Some(t) => J::String(t.to_string()),
            None => serde_json::json!({ "$bin": hex(s.as_bytes()) }),
        },
        Value::Binary(b) => match std::str::from_utf8(b) {
            Ok(t) => J::String(t.to_string()),
            Err(_) => serde_json::json!({ "$bin": hex(b) }),
        },
        Value::Array(a) => J::Array(a.iter().map(|x| msgpack_to_json(x, depth)).collect()),
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| hex(s.as_bytes())),
                    Value::Binary(b) => String::from_utf8(b.clone()).unwrap_or_else(|_| hex(b)),
                    other => other.to_string(),
                };
                out.insert(key, msgpack_to_json(v, depth));
            }
            J::Object(out)
        }
        Value::Ext(t, data) => ext_to_json(*t, data, depth + 1),
    }
}

/// oslo.serialization ext types: 0 UUID (32 hex chars), 1 datetime (a msgpack map),
/// 4/5 set/frozenset (a msgpack array); others are shown opaque.
fn ext_to_json(t: i8, data: &[u8], depth: usize) -> serde_json::Value {
    let inner = || {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut rd = data;
        rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
            .ok()
            .map(|v| msgpack_to_json(&v, depth))
    };
    match t {
        0 => match std::str::from_utf8(data) {
            Ok(s) => serde_json::Value::String(s.to_string()),
            Err(_) => serde_json::json!({ "$ext": t, "hex": hex(data) }),
        },
        1 | 4 | 5 | 7 => {
            inner().unwrap_or_else(|| serde_json::json!({ "$ext": t, "hex": hex(data) }))
        }
        _ => serde_json::json!({ "$ext": t, "hex": hex(data) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: &[u8]) -> String {
        hex(b)
    }

    #[test]
    fn encodes_like_oslo_serialization() {
        // Vectors from the wire-format spec §1.2.
        let c = Capabilities::from_json_text(r#"{"weight": 1}"#).unwrap();
        assert_eq!(h(&c.to_msgpack()), "81a677656967687401");
        let c = Capabilities::from_json_text(r#"{"role": "api", "n": 1}"#).unwrap();
        assert_eq!(h(&c.to_msgpack()), "82a4726f6c65a3617069a16e01");
        assert_eq!(h(&Capabilities::default().to_msgpack()), "c0");
        assert_eq!(
            h(&Capabilities::from_json_text("300").unwrap().to_msgpack()),
            "cd012c"
        );
        assert_eq!(
            h(&Capabilities::from_json_text("-33").unwrap().to_msgpack()),
            "d0df"
        );
        assert_eq!(
            h(&Capabilities::from_json_text("1.5").unwrap().to_msgpack()),
            "cb3ff8000000000000"
        );
    }

    #[test]
    fn decodes_tooz_values_to_json() {
        let raw = hex_to_bytes(
            "86a4726f6c65a3617069a16e01a46e6f6e65c0a162c40178a16c920102a166cb3ff8000000000000",
        );
        let c = Capabilities::from_msgpack(&raw).unwrap();
        assert_eq!(
            c.to_json(),
            serde_json::json!({"role": "api", "n": 1, "none": null, "b": "x", "l": [1, 2], "f": 1.5})
        );
        assert!(Capabilities::from_msgpack(b"").unwrap().is_none());
        assert!(
            Capabilities::from_msgpack(&[0x82, 0xa1]).is_err(),
            "truncated"
        );
        assert!(
            Capabilities::from_msgpack(&[0xc0, 0xc0]).is_err(),
            "trailing bytes"
        );
    }

    #[test]
    fn bad_json_is_input_error() {
        assert!(matches!(
            Capabilities::from_json_text("{role"),
            Err(Error::InvalidInput(_))
        ));
    }

    fn hex_to_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn deep_values_from_a_backend_do_not_overflow_the_stack() {
        // Any tooz client can store this as a member's capabilities.
        let deep = vec![0x91u8; 200_000];
        let _ = Capabilities::from_msgpack(&deep).map(|c| c.to_json());
        // oslo's set ext (type 4) wrapping itself, 10 000 times.
        let mut v = vec![0xc0u8];
        for _ in 0..10_000 {
            let mut w = vec![0xc9];
            w.extend((v.len() as u32).to_be_bytes());
            w.push(4);
            w.extend(&v);
            v = w;
        }
        let _ = Capabilities::from_msgpack(&v).map(|c| c.to_json());
        let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Capabilities::from_json_text(&deep_json).is_err());
    }

    mod fuzz {
        //! Property tests: any JSON text and any stored bytes become capabilities or an
        //! error, never a panic; what we encode decodes to the same JSON.
        use super::super::*;
        use proptest::prelude::*;

        fn json_text() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_string()),
                Just("1e400".to_string()),
                Just("-0".to_string()),
                Just("18446744073709551616".to_string()),
                "-?[0-9]{1,20}(\\.[0-9]{1,3})?",
                "\"[ -~\u{80}-\u{2100}]{0,8}\"",
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    proptest::collection::vec(("[a-z]{0,3}", inner), 0..4).prop_map(|v| format!(
                        "{{{}}}",
                        v.iter()
                            .map(|(k, x)| format!("\"{k}\":{x}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    )),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]
            #[test]
            fn json_round_trips(t in prop_oneof![json_text(), "\\PC{0,20}"]) {
                if let Ok(c) = Capabilities::from_json_text(&t) {
                    let back = Capabilities::from_msgpack(&c.to_msgpack()).unwrap();
                    prop_assert_eq!(back.to_json(), c.to_json());
                }
            }

            #[test]
            fn stored_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = Capabilities::from_msgpack(&b).map(|c| c.to_json());
            }
        }
    }
}
