//! Noise transport over a blocking TcpStream driven by codec_sv2's sans-IO encoder/decoder.

use std::{
    convert::TryFrom,
    io::{Read, Write},
    net::TcpStream,
    str::FromStr,
};

use codec_sv2::{
    Decoded, Decrypted, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use parsers_sv2::AnyMessage;
use serde_json::{json, Map, Value};

use crate::{codec::*, util::*};

// ---------------------------------------------------------------------------------------------
// Noise transport over a blocking TcpStream, driven by codec_sv2's sans-IO encoder/decoder
// ---------------------------------------------------------------------------------------------

pub(crate) struct NoiseConn {
    pub(crate) stream: TcpStream,
    pub(crate) encoder: NoiseEncoder,
    pub(crate) decoder: NoiseDecoder,
    pub(crate) enc: TransportEncryptState,
    pub(crate) dec: Option<TransportDecryptState>,
}

impl NoiseConn {
    pub(crate) fn send(&mut self, msg: AnyMessage<'_>) -> Res<()> {
        let (name, fields) = render(&msg);
        let frame =
            MessageFrame::<AnyMessage>::try_from(msg).map_err(|e| format!("frame: {e:?}"))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.enc)
            .map_err(|e| format!("encrypt {name}: {e:?}"))?;
        let bytes: &[u8] = bytes.as_ref();
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write {name}: {e}"))?;
        emit(json!({"event": "sent", "msg": name, "fields": fields}));
        Ok(())
    }

    /// Reads exactly as many bytes as the decoder asks for, so nothing is ever over-read.
    pub(crate) fn recv_frame(&mut self) -> Res<Vec<u8>> {
        loop {
            let buf = self.decoder.writable();
            self.stream
                .read_exact(buf)
                .map_err(|e| format!("read transport frame: {e}"))?;
            let state = self
                .dec
                .take()
                .ok_or("decrypt state lost after an earlier error")?;
            match self.decoder.next_transport_frame(state) {
                Ok(Decrypted::Frame(frame, state)) => {
                    self.dec = Some(state);
                    return Ok(frame.as_bytes().to_vec());
                }
                Ok(Decrypted::Incomplete(_, state)) => self.dec = Some(state),
                Err(e) => return Err(format!("decrypt: {e:?}")),
            }
        }
    }

    /// Receives one frame and reports it; returns (name, fields, raw plaintext frame).
    pub(crate) fn recv(&mut self) -> Res<(String, Value, Vec<u8>)> {
        let bytes = self.recv_frame()?;
        let m = decode_plain(&bytes)?;
        let name = m["msg"].as_str().unwrap_or("?").to_string();
        let fields = m["fields"].clone();
        let mut ev = Map::new();
        ev.insert("event".into(), json!("received"));
        ev.insert("hex".into(), json!(hex(&bytes)));
        ev.extend(m);
        emit(Value::Object(ev));
        Ok((name, fields, bytes))
    }
}

pub(crate) fn read_handshake<R: codec_sv2::ExpectsHandshakeMessage>(
    stream: &mut TcpStream,
    decoder: &mut NoiseDecoder,
) -> Res<Vec<u8>> {
    loop {
        match decoder
            .next_handshake_frame::<R>()
            .map_err(|e| format!("handshake frame: {e:?}"))?
        {
            Decoded::Frame(m) => return Ok(m.payload().to_vec()),
            Decoded::Incomplete(_) => {
                let buf = decoder.writable();
                stream
                    .read_exact(buf)
                    .map_err(|e| format!("read handshake message: {e}"))?;
            }
        }
    }
}

pub(crate) fn parse_pubkey(b58: &str) -> Res<[u8; 32]> {
    Secp256k1PublicKey::from_str(b58)
        .map(|k| k.into_bytes())
        .map_err(|e| format!("SRI key-utils rejects authority public key {b58:?}: {e:?}"))
}

pub(crate) fn parse_secret(b58: &str) -> Res<[u8; 32]> {
    Secp256k1SecretKey::from_str(b58)
        .map(|k| k.into_bytes())
        .map_err(|e| format!("SRI key-utils rejects authority secret key: {e:?}"))
}
