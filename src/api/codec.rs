//! The protobuf codec of floorgate's services: prost encoding, with a
//! request that does not decode (invalid UTF-8 in a string, a wrong wire
//! type, a truncated message) answered `INVALID_ARGUMENT` naming what prost
//! found — it is the client's fault, not the gateway's `INTERNAL` (tonic's
//! default). Wired in by `build.rs` (`codec_path`).

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;

/// `application/grpc+proto` via prost, decode errors as `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct FloorgateCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for FloorgateCodec<T, U> {
    fn default() -> Self {
        FloorgateCodec(PhantomData)
    }
}

impl<T, U> Codec for FloorgateCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = InvalidArgumentDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        InvalidArgumentDecoder(PhantomData)
    }
}

/// Decodes `U`; a message that does not decode is `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct InvalidArgumentDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for InvalidArgumentDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| {
            // prost names the message and field path ("Task.task_id: invalid
            // string value: data is not UTF-8 encoded").
            let text = e.to_string();
            super::errors::refuse(
                tonic::Code::InvalidArgument,
                "MALFORMED_REQUEST",
                format!(
                    "the request does not decode as protobuf: {}",
                    super::convert::clip(&text)
                ),
            )
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
