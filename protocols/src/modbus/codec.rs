//! Typed values to and from 16-bit holding registers.
//!
//! Modbus moves 16-bit words, each big-endian on the wire (tokio-modbus already gives us
//! `u16`s). A 32-bit value spans two consecutive registers; PLC vendors disagree on which
//! comes first, so the profile names a [`WordOrder`] per register:
//!
//! - [`WordOrder::Big`]: high word at the lower address (`AB CD`, Modicon/Schneider style);
//! - [`WordOrder::Little`]: low word at the lower address (`CD AB`, "word swap", common on
//!   Siemens/Beckhoff gateways).
//!
//! A profile value is in engineering units: `engineering = raw × scale`. Encoding divides
//! by the scale and, for integer types, rounds to the nearest integer and checks the range.

use serde::{Deserialize, Serialize};

/// The machine type stored in one or two holding registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterType {
    /// Unsigned 16-bit, one register.
    U16,
    /// Signed 16-bit (two's complement), one register.
    I16,
    /// Unsigned 32-bit, two registers.
    U32,
    /// Signed 32-bit (two's complement), two registers.
    I32,
    /// IEEE 754 single precision, two registers.
    F32,
}

impl RegisterType {
    /// How many 16-bit registers a value of this type occupies.
    pub fn word_count(self) -> u16 {
        match self {
            RegisterType::U16 | RegisterType::I16 => 1,
            RegisterType::U32 | RegisterType::I32 | RegisterType::F32 => 2,
        }
    }
}

/// Which of the two words of a 32-bit value sits at the lower address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// High word first (`AB CD`).
    #[default]
    Big,
    /// Low word first (`CD AB`, word swap).
    Little,
}

/// A raw value as the PLC stores it, before scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue {
    /// See [`RegisterType::U16`].
    U16(u16),
    /// See [`RegisterType::I16`].
    I16(i16),
    /// See [`RegisterType::U32`].
    U32(u32),
    /// See [`RegisterType::I32`].
    I32(i32),
    /// See [`RegisterType::F32`].
    F32(f32),
}

impl RawValue {
    /// The value as a float (exact for every integer type).
    pub fn as_f64(self) -> f64 {
        match self {
            RawValue::U16(v) => f64::from(v),
            RawValue::I16(v) => f64::from(v),
            RawValue::U32(v) => f64::from(v),
            RawValue::I32(v) => f64::from(v),
            RawValue::F32(v) => f64::from(v),
        }
    }
}

/// A value that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The slice does not hold exactly the registers the type needs.
    #[error("{ty:?} needs {expected} register(s), got {got}")]
    WrongLength {
        /// Type being decoded.
        ty: RegisterType,
        /// Registers the type occupies.
        expected: u16,
        /// Registers supplied.
        got: usize,
    },
    /// The scaled value does not fit the register type.
    #[error("{value} (scale {scale}) does not fit in {ty:?}")]
    OutOfRange {
        /// Target type.
        ty: RegisterType,
        /// Engineering value that was given.
        value: f64,
        /// Scale of the register.
        scale: f64,
    },
    /// NaN or infinity where a number was needed (or a zero scale).
    #[error("{0} is not a finite number")]
    NotFinite(f64),
}

fn split(v: u32, order: WordOrder) -> [u16; 2] {
    // Truncation is the point: take the high and the low half.
    let (hi, lo) = ((v >> 16) as u16, (v & 0xFFFF) as u16);
    match order {
        WordOrder::Big => [hi, lo],
        WordOrder::Little => [lo, hi],
    }
}

fn join(words: [u16; 2], order: WordOrder) -> u32 {
    let (hi, lo) = match order {
        WordOrder::Big => (words[0], words[1]),
        WordOrder::Little => (words[1], words[0]),
    };
    (u32::from(hi) << 16) | u32::from(lo)
}

/// Encodes a raw value into registers, lowest address first.
pub fn encode_raw(value: RawValue, order: WordOrder) -> Vec<u16> {
    match value {
        RawValue::U16(v) => vec![v],
        RawValue::I16(v) => vec![u16::from_ne_bytes(v.to_ne_bytes())],
        RawValue::U32(v) => split(v, order).to_vec(),
        RawValue::I32(v) => split(u32::from_ne_bytes(v.to_ne_bytes()), order).to_vec(),
        RawValue::F32(v) => split(v.to_bits(), order).to_vec(),
    }
}

/// Decodes registers (lowest address first) into a raw value.
pub fn decode_raw(
    ty: RegisterType,
    order: WordOrder,
    words: &[u16],
) -> Result<RawValue, CodecError> {
    if words.len() != usize::from(ty.word_count()) {
        return Err(CodecError::WrongLength {
            ty,
            expected: ty.word_count(),
            got: words.len(),
        });
    }
    Ok(match ty {
        RegisterType::U16 => RawValue::U16(words[0]),
        RegisterType::I16 => RawValue::I16(i16::from_ne_bytes(words[0].to_ne_bytes())),
        RegisterType::U32 => RawValue::U32(join([words[0], words[1]], order)),
        RegisterType::I32 => RawValue::I32(i32::from_ne_bytes(
            join([words[0], words[1]], order).to_ne_bytes(),
        )),
        RegisterType::F32 => RawValue::F32(f32::from_bits(join([words[0], words[1]], order))),
    })
}

/// Decodes registers into an engineering value (`raw × scale`).
pub fn decode(
    ty: RegisterType,
    order: WordOrder,
    scale: f64,
    words: &[u16],
) -> Result<f64, CodecError> {
    Ok(decode_raw(ty, order, words)?.as_f64() * scale)
}

/// Converts an engineering value into the raw value of `ty` (`value / scale`, rounded to
/// the nearest integer for integer types).
pub fn to_raw(ty: RegisterType, scale: f64, value: f64) -> Result<RawValue, CodecError> {
    if !value.is_finite() {
        return Err(CodecError::NotFinite(value));
    }
    if !scale.is_finite() || scale == 0.0 {
        return Err(CodecError::NotFinite(scale));
    }
    let raw = value / scale;
    let out_of_range = || CodecError::OutOfRange { ty, value, scale };
    let int = |min: f64, max: f64| {
        let r = raw.round();
        if (min..=max).contains(&r) {
            Ok(r)
        } else {
            Err(out_of_range())
        }
    };
    // The range checks above make every `as` below exact.
    Ok(match ty {
        RegisterType::U16 => RawValue::U16(int(0.0, f64::from(u16::MAX))? as u16),
        RegisterType::I16 => RawValue::I16(int(f64::from(i16::MIN), f64::from(i16::MAX))? as i16),
        RegisterType::U32 => RawValue::U32(int(0.0, f64::from(u32::MAX))? as u32),
        RegisterType::I32 => RawValue::I32(int(f64::from(i32::MIN), f64::from(i32::MAX))? as i32),
        RegisterType::F32 => {
            if raw.abs() > f64::from(f32::MAX) {
                return Err(out_of_range());
            }
            RawValue::F32(raw as f32)
        }
    })
}

/// Encodes an engineering value into registers, lowest address first.
pub fn encode(
    ty: RegisterType,
    order: WordOrder,
    scale: f64,
    value: f64,
) -> Result<Vec<u16>, CodecError> {
    Ok(encode_raw(to_raw(ty, scale, value)?, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_big_word_order_puts_the_high_word_first() {
        assert_eq!(
            encode_raw(RawValue::U32(0x1234_5678), WordOrder::Big),
            vec![0x1234, 0x5678]
        );
    }

    #[test]
    fn u32_little_word_order_swaps_the_words() {
        assert_eq!(
            encode_raw(RawValue::U32(0x1234_5678), WordOrder::Little),
            vec![0x5678, 0x1234]
        );
        assert_eq!(
            decode_raw(RegisterType::U32, WordOrder::Little, &[0x5678, 0x1234]),
            Ok(RawValue::U32(0x1234_5678))
        );
    }

    #[test]
    fn i16_is_twos_complement() {
        assert_eq!(encode_raw(RawValue::I16(-2), WordOrder::Big), vec![0xFFFE]);
        assert_eq!(
            decode(RegisterType::I16, WordOrder::Big, 1.0, &[0xFFFE]),
            Ok(-2.0)
        );
    }

    #[test]
    fn f32_known_bit_pattern_in_both_orders() {
        // 1.5f32 = 0x3FC0_0000
        assert_eq!(
            encode_raw(RawValue::F32(1.5), WordOrder::Big),
            vec![0x3FC0, 0x0000]
        );
        assert_eq!(
            encode_raw(RawValue::F32(1.5), WordOrder::Little),
            vec![0x0000, 0x3FC0]
        );
        assert_eq!(
            decode(RegisterType::F32, WordOrder::Little, 1.0, &[0x0000, 0x3FC0]),
            Ok(1.5)
        );
    }

    #[test]
    fn every_type_and_order_round_trips() {
        let cases: [(RegisterType, f64, f64); 8] = [
            (RegisterType::U16, 1.0, 65535.0),
            (RegisterType::I16, 0.1, -3276.8),
            (RegisterType::U32, 1.0, 4_000_000_000.0),
            (RegisterType::I32, 0.001, -2_000_000.5),
            (RegisterType::I32, 1.0, i32::MIN as f64),
            (RegisterType::F32, 1.0, -12.25),
            (RegisterType::F32, 0.5, 3.0e9),
            (RegisterType::U16, 10.0, 120.0),
        ];
        for order in [WordOrder::Big, WordOrder::Little] {
            for (ty, scale, value) in cases {
                let words = encode(ty, order, scale, value).unwrap();
                assert_eq!(words.len(), usize::from(ty.word_count()));
                let back = decode(ty, order, scale, &words).unwrap();
                assert!(
                    (back - value).abs() <= scale.abs() * 1e-6 * value.abs().max(1.0),
                    "{ty:?} {order:?} {value} -> {back}"
                );
            }
        }
    }

    #[test]
    fn scaled_integers_round_to_the_nearest_step() {
        // 21.37 °C in tenths is 214.
        assert_eq!(
            encode(RegisterType::I16, WordOrder::Big, 0.1, 21.37),
            Ok(vec![214])
        );
    }

    #[test]
    fn values_that_do_not_fit_are_refused() {
        assert!(matches!(
            encode(RegisterType::U16, WordOrder::Big, 1.0, 65536.0),
            Err(CodecError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(RegisterType::U16, WordOrder::Big, 1.0, -1.0),
            Err(CodecError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(RegisterType::I16, WordOrder::Big, 0.1, 4000.0),
            Err(CodecError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(RegisterType::F32, WordOrder::Big, 1.0, f64::NAN),
            Err(CodecError::NotFinite(_))
        ));
        assert!(matches!(
            encode(RegisterType::U16, WordOrder::Big, 0.0, 1.0),
            Err(CodecError::NotFinite(_))
        ));
    }

    #[test]
    fn wrong_register_count_is_an_error() {
        assert_eq!(
            decode_raw(RegisterType::F32, WordOrder::Big, &[1]),
            Err(CodecError::WrongLength {
                ty: RegisterType::F32,
                expected: 2,
                got: 1
            })
        );
    }
}
