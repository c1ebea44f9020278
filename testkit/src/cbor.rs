//! CBOR for the fake CloudWatch: the AWS SDK for Rust speaks Smithy RPC v2 CBOR to it.
//! Decoding and encoding go through `minicbor` (the CBOR crate the SDK itself uses);
//! this module only maps CBOR to JSON trees and back.

use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};
use serde_json::{Map, Number, Value};

/// The CBOR a response is built from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cbor {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// A text string.
    Text(String),
    /// An array.
    Array(Vec<Cbor>),
    /// A map with text keys, in order.
    Map(Vec<(String, Cbor)>),
    /// A timestamp: tag 1 around epoch seconds, as Smithy RPC v2 CBOR sends them.
    Timestamp(f64),
}

impl Cbor {
    /// A map from `(key, value)` pairs.
    pub(crate) fn map<I: IntoIterator<Item = (&'static str, Cbor)>>(entries: I) -> Self {
        Self::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// Text.
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    /// The encoded bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        // Writing into a Vec cannot fail.
        let _ = write(self, &mut e);
        e.into_writer()
    }
}

fn write(
    v: &Cbor,
    e: &mut Encoder<Vec<u8>>,
) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    match v {
        Cbor::Bool(b) => {
            e.bool(*b)?;
        }
        Cbor::Int(i) => {
            e.i64(*i)?;
        }
        Cbor::Float(f) => {
            e.f64(*f)?;
        }
        Cbor::Text(s) => {
            e.str(s)?;
        }
        Cbor::Array(items) => {
            e.array(items.len() as u64)?;
            for i in items {
                write(i, e)?;
            }
        }
        Cbor::Map(entries) => {
            e.map(entries.len() as u64)?;
            for (k, v) in entries {
                e.str(k)?;
                write(v, e)?;
            }
        }
        Cbor::Timestamp(secs) => {
            e.tag(Tag::new(1))?.f64(*secs)?;
        }
    }
    Ok(())
}

/// Decodes one CBOR data item into a JSON tree: timestamps (tag 1) become epoch
/// seconds, byte strings become arrays of numbers, indefinite lengths are accepted.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut d = Decoder::new(bytes);
    read(&mut d, 0).map_err(|e| format!("invalid CBOR: {e}"))
}

/// Nesting deeper than this is refused (a request is a few levels deep).
const MAX_DEPTH: usize = 64;

fn read(d: &mut Decoder<'_>, depth: usize) -> Result<Value, minicbor::decode::Error> {
    if depth > MAX_DEPTH {
        return Err(minicbor::decode::Error::message("nested too deeply"));
    }
    Ok(match d.datatype()? {
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null | Type::Undefined => {
            d.skip()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::Number(d.u64()?.into()),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => Value::Number(d.i64()?.into()),
        Type::F32 | Type::F64 => {
            let f = match d.datatype()? {
                Type::F32 => f64::from(d.f32()?),
                _ => d.f64()?,
            };
            Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        Type::String | Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter()? {
                s.push_str(part?);
            }
            Value::String(s)
        }
        Type::Bytes | Type::BytesIndef => {
            let b = d.bytes()?;
            Value::Array(b.iter().map(|x| Value::Number((*x).into())).collect())
        }
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array()? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(read(d, depth + 1)?);
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        items.push(read(d, depth + 1)?);
                    }
                    d.skip()?;
                }
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut map = Map::new();
            match d.map()? {
                Some(n) => {
                    for _ in 0..n {
                        let k = key(d, depth)?;
                        map.insert(k, read(d, depth + 1)?);
                    }
                }
                None => {
                    while d.datatype()? != Type::Break {
                        let k = key(d, depth)?;
                        map.insert(k, read(d, depth + 1)?);
                    }
                    d.skip()?;
                }
            }
            Value::Object(map)
        }
        Type::Tag => {
            // Tag 1 is an epoch-seconds timestamp; any other tag is read through.
            d.tag()?;
            read(d, depth + 1)?
        }
        other => {
            return Err(minicbor::decode::Error::message(format!(
                "unexpected CBOR type {other}"
            )))
        }
    })
}

fn key(d: &mut Decoder<'_>, depth: usize) -> Result<String, minicbor::decode::Error> {
    match read(d, depth + 1)? {
        Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_and_decodes_a_response_shape() {
        let v = Cbor::map([
            ("AlarmName", Cbor::text("a")),
            ("Period", Cbor::Int(60)),
            ("Threshold", Cbor::Float(0.5)),
            ("Updated", Cbor::Timestamp(1.5e9)),
            ("Dims", Cbor::Array(vec![Cbor::Int(-3), Cbor::Bool(true)])),
        ]);
        assert_eq!(
            decode(&v.encode()),
            Ok(
                json!({"AlarmName": "a", "Period": 60, "Threshold": 0.5, "Updated": 1.5e9, "Dims": [-3, true]})
            )
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0xff, 0x00, 0x13]).is_err());
        assert!(decode(&[0x9f; 200]).is_err(), "deep nesting is refused");
    }
}
