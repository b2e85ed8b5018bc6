//! SRI messages ↔ JSON, and plaintext frames encoded/decoded with SRI's codec and parser.

use std::convert::TryFrom;

use binary_sv2::{Seq0255, Seq064K, Str0255, Sv2Option, B016M, U256};
use codec_sv2::{Encoder, MessageFrame};
use framing_sv2::header::Header;
use parsers_sv2::{
    AnyMessage, CommonMessages, Extensions, ExtensionsNegotiation, IsSv2Message, JobDeclaration,
    Mining, TemplateDistribution, Tlv, TlvList,
};
use serde_json::{json, Map, Value};

use crate::util::*;

// ---------------------------------------------------------------------------------------------
// Rendering SRI messages as JSON (SRI's field names, snake_case). U64 as decimal strings (JSON
// numbers lose precision past 2^53), byte fields as lowercase hex, STR0_255 as UTF-8 text (or
// {"hex": ...} if SRI would not read it as UTF-8), F32 as the exact number it denotes.
// ---------------------------------------------------------------------------------------------

pub(crate) fn s(v: &Str0255) -> Value {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(t) => Value::String(t.to_string()),
        Err(_) => json!({"hex": hex(v.as_bytes())}),
    }
}

pub(crate) fn f32v(x: f32) -> Value {
    serde_json::Number::from_f64(x as f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(format!("f32-bits:{:08x}", x.to_bits())))
}

pub(crate) fn opt_u32(o: &Sv2Option<u32>) -> Value {
    match o.as_ref() {
        Some(v) => json!(v),
        None => Value::Null,
    }
}

pub(crate) fn seq256(v: &Seq0255<U256>) -> Value {
    Value::Array(v.iter().map(|x| json!(hex(x.as_bytes()))).collect())
}

pub(crate) fn seq64k_u256(v: &Seq064K<U256>) -> Value {
    Value::Array(v.iter().map(|x| json!(hex(x.as_bytes()))).collect())
}

pub(crate) fn seq64k_b016m(v: &Seq064K<B016M>) -> Value {
    Value::Array(v.iter().map(|x| json!(hex(x.as_bytes()))).collect())
}

pub(crate) fn seq64k_u16(v: &Seq064K<u16>) -> Value {
    Value::Array(v.iter().map(|x| json!(x)).collect())
}

pub(crate) fn seq64k_u32(v: &Seq064K<u32>) -> Value {
    Value::Array(v.iter().map(|x| json!(x)).collect())
}

/// Returns (our TS `type` name for the message, its fields as SRI decoded them).
pub(crate) fn render(msg: &AnyMessage) -> (&'static str, Value) {
    match msg {
        AnyMessage::Common(c) => match c {
            CommonMessages::SetupConnection(m) => (
                "SetupConnection",
                json!({
                    "protocol": m.protocol as u8, "min_version": m.min_version,
                    "max_version": m.max_version, "flags": m.flags,
                    "endpoint_host": s(&m.endpoint_host), "endpoint_port": m.endpoint_port,
                    "vendor": s(&m.vendor), "hardware_version": s(&m.hardware_version),
                    "firmware": s(&m.firmware), "device_id": s(&m.device_id),
                }),
            ),
            CommonMessages::SetupConnectionSuccess(m) => (
                "SetupConnectionSuccess",
                json!({"used_version": m.used_version, "flags": m.flags}),
            ),
            CommonMessages::SetupConnectionError(m) => (
                "SetupConnectionError",
                json!({"flags": m.flags, "error_code": s(&m.error_code)}),
            ),
            CommonMessages::ChannelEndpointChanged(m) => (
                "ChannelEndpointChanged",
                json!({"channel_id": m.channel_id}),
            ),
            CommonMessages::Reconnect(m) => (
                "Reconnect",
                json!({"new_host": s(&m.new_host), "new_port": m.new_port}),
            ),
        },
        AnyMessage::Mining(mm) => match mm {
            Mining::OpenStandardMiningChannel(m) => (
                "OpenStandardMiningChannel",
                json!({
                    "request_id": m.request_id, "user_identity": s(&m.user_identity),
                    "nominal_hash_rate": f32v(m.nominal_hash_rate),
                    "max_target": hex(m.max_target.as_bytes()),
                }),
            ),
            Mining::OpenStandardMiningChannelSuccess(m) => (
                "OpenStandardMiningChannelSuccess",
                json!({
                    "request_id": m.request_id, "channel_id": m.channel_id,
                    "target": hex(m.target.as_bytes()),
                    "extranonce_prefix": hex(m.extranonce_prefix.as_bytes()),
                    "group_channel_id": m.group_channel_id,
                }),
            ),
            Mining::OpenMiningChannelError(m) => (
                "OpenMiningChannelError",
                json!({"request_id": m.request_id, "error_code": s(&m.error_code)}),
            ),
            Mining::OpenExtendedMiningChannel(m) => (
                "OpenExtendedMiningChannel",
                json!({
                    "request_id": m.request_id, "user_identity": s(&m.user_identity),
                    "nominal_hash_rate": f32v(m.nominal_hash_rate),
                    "max_target": hex(m.max_target.as_bytes()),
                    "min_extranonce_size": m.min_extranonce_size,
                }),
            ),
            Mining::OpenExtendedMiningChannelSuccess(m) => (
                "OpenExtendedMiningChannelSuccess",
                json!({
                    "request_id": m.request_id, "channel_id": m.channel_id,
                    "target": hex(m.target.as_bytes()), "extranonce_size": m.extranonce_size,
                    "extranonce_prefix": hex(m.extranonce_prefix.as_bytes()),
                    "group_channel_id": m.group_channel_id,
                }),
            ),
            Mining::NewMiningJob(m) => (
                "NewMiningJob",
                json!({
                    "channel_id": m.channel_id, "job_id": m.job_id,
                    "min_ntime": opt_u32(&m.min_ntime), "version": m.version,
                    "merkle_root": hex(m.merkle_root.as_bytes()),
                }),
            ),
            Mining::NewExtendedMiningJob(m) => (
                "NewExtendedMiningJob",
                json!({
                    "channel_id": m.channel_id, "job_id": m.job_id,
                    "min_ntime": opt_u32(&m.min_ntime), "version": m.version,
                    "version_rolling_allowed": m.version_rolling_allowed,
                    "merkle_path": seq256(&m.merkle_path),
                    "coinbase_tx_prefix": hex(m.coinbase_tx_prefix.as_bytes()),
                    "coinbase_tx_suffix": hex(m.coinbase_tx_suffix.as_bytes()),
                }),
            ),
            Mining::UpdateChannel(m) => (
                "UpdateChannel",
                json!({
                    "channel_id": m.channel_id,
                    "nominal_hash_rate": f32v(m.nominal_hash_rate),
                    "maximum_target": hex(m.maximum_target.as_bytes()),
                }),
            ),
            Mining::UpdateChannelError(m) => (
                "UpdateChannelError",
                json!({"channel_id": m.channel_id, "error_code": s(&m.error_code)}),
            ),
            Mining::CloseChannel(m) => (
                "CloseChannel",
                json!({"channel_id": m.channel_id, "reason_code": s(&m.reason_code)}),
            ),
            Mining::SetExtranoncePrefix(m) => (
                "SetExtranoncePrefix",
                json!({
                    "channel_id": m.channel_id,
                    "extranonce_prefix": hex(m.extranonce_prefix.as_bytes()),
                }),
            ),
            Mining::SubmitSharesStandard(m) => (
                "SubmitSharesStandard",
                json!({
                    "channel_id": m.channel_id, "sequence_number": m.sequence_number,
                    "job_id": m.job_id, "nonce": m.nonce, "ntime": m.ntime, "version": m.version,
                }),
            ),
            Mining::SubmitSharesExtended(m) => (
                "SubmitSharesExtended",
                json!({
                    "channel_id": m.channel_id, "sequence_number": m.sequence_number,
                    "job_id": m.job_id, "nonce": m.nonce, "ntime": m.ntime, "version": m.version,
                    "extranonce": hex(m.extranonce.as_bytes()),
                }),
            ),
            Mining::SubmitSharesSuccess(m) => (
                "SubmitSharesSuccess",
                json!({
                    "channel_id": m.channel_id, "last_sequence_number": m.last_sequence_number,
                    "new_submits_accepted_count": m.new_submits_accepted_count,
                    "new_shares_sum": m.new_shares_sum.to_string(),
                }),
            ),
            Mining::SubmitSharesError(m) => (
                "SubmitSharesError",
                json!({
                    "channel_id": m.channel_id, "sequence_number": m.sequence_number,
                    "error_code": s(&m.error_code),
                }),
            ),
            Mining::SetNewPrevHash(m) => (
                "SetNewPrevHash",
                json!({
                    "channel_id": m.channel_id, "job_id": m.job_id,
                    "prev_hash": hex(m.prev_hash.as_bytes()), "min_ntime": m.min_ntime,
                    "nbits": m.nbits,
                }),
            ),
            Mining::SetTarget(m) => (
                "SetTarget",
                json!({
                    "channel_id": m.channel_id,
                    "maximum_target": hex(m.maximum_target.as_bytes()),
                }),
            ),
            Mining::SetCustomMiningJob(m) => (
                "SetCustomMiningJob",
                json!({
                    "channel_id": m.channel_id, "request_id": m.request_id,
                    "token": hex(m.token.as_bytes()), "version": m.version,
                    "prev_hash": hex(m.prev_hash.as_bytes()), "min_ntime": m.min_ntime,
                    "nbits": m.nbits, "coinbase_tx_version": m.coinbase_tx_version,
                    "coinbase_prefix": hex(m.coinbase_prefix.as_bytes()),
                    "coinbase_tx_input_n_sequence": m.coinbase_tx_input_n_sequence,
                    "coinbase_tx_outputs": hex(m.coinbase_tx_outputs.as_bytes()),
                    "coinbase_tx_locktime": m.coinbase_tx_locktime,
                    "merkle_path": seq256(&m.merkle_path),
                }),
            ),
            Mining::SetCustomMiningJobSuccess(m) => (
                "SetCustomMiningJobSuccess",
                json!({"channel_id": m.channel_id, "request_id": m.request_id, "job_id": m.job_id}),
            ),
            Mining::SetCustomMiningJobError(m) => (
                "SetCustomMiningJobError",
                json!({
                    "channel_id": m.channel_id, "request_id": m.request_id,
                    "error_code": s(&m.error_code),
                }),
            ),
            Mining::SetGroupChannel(m) => (
                "SetGroupChannel",
                json!({
                    "group_channel_id": m.group_channel_id,
                    "channel_ids": seq64k_u32(&m.channel_ids),
                }),
            ),
        },
        AnyMessage::TemplateDistribution(t) => match t {
            TemplateDistribution::CoinbaseOutputConstraints(m) => (
                "CoinbaseOutputConstraints",
                json!({
                    "coinbase_output_max_additional_size": m.coinbase_output_max_additional_size,
                    "coinbase_output_max_additional_sigops": m.coinbase_output_max_additional_sigops,
                }),
            ),
            TemplateDistribution::NewTemplate(m) => (
                "NewTemplate",
                json!({
                    "template_id": m.template_id.to_string(),
                    "future_template": m.future_template, "version": m.version,
                    "coinbase_tx_version": m.coinbase_tx_version,
                    "coinbase_prefix": hex(m.coinbase_prefix.as_bytes()),
                    "coinbase_tx_input_sequence": m.coinbase_tx_input_sequence,
                    "coinbase_tx_value_remaining": m.coinbase_tx_value_remaining.to_string(),
                    "coinbase_tx_outputs_count": m.coinbase_tx_outputs_count,
                    "coinbase_tx_outputs": hex(m.coinbase_tx_outputs.as_bytes()),
                    "coinbase_tx_locktime": m.coinbase_tx_locktime,
                    "merkle_path": seq256(&m.merkle_path),
                }),
            ),
            TemplateDistribution::SetNewPrevHash(m) => (
                "SetNewPrevHashTdp",
                json!({
                    "template_id": m.template_id.to_string(),
                    "prev_hash": hex(m.prev_hash.as_bytes()),
                    "header_timestamp": m.header_timestamp, "n_bits": m.n_bits,
                    "target": hex(m.target.as_bytes()),
                }),
            ),
            TemplateDistribution::RequestTransactionData(m) => (
                "RequestTransactionData",
                json!({"template_id": m.template_id.to_string()}),
            ),
            TemplateDistribution::RequestTransactionDataSuccess(m) => (
                "RequestTransactionDataSuccess",
                json!({
                    "template_id": m.template_id.to_string(),
                    "excess_data": hex(m.excess_data.as_bytes()),
                    "transaction_list": seq64k_b016m(&m.transaction_list),
                }),
            ),
            TemplateDistribution::RequestTransactionDataError(m) => (
                "RequestTransactionDataError",
                json!({"template_id": m.template_id.to_string(), "error_code": s(&m.error_code)}),
            ),
            TemplateDistribution::SubmitSolution(m) => (
                "SubmitSolution",
                json!({
                    "template_id": m.template_id.to_string(), "version": m.version,
                    "header_timestamp": m.header_timestamp, "header_nonce": m.header_nonce,
                    "coinbase_tx": hex(m.coinbase_tx.as_bytes()),
                }),
            ),
        },
        AnyMessage::JobDeclaration(j) => match j {
            JobDeclaration::AllocateMiningJobToken(m) => (
                "AllocateMiningJobToken",
                json!({"user_identifier": s(&m.user_identifier), "request_id": m.request_id}),
            ),
            JobDeclaration::AllocateMiningJobTokenSuccess(m) => (
                "AllocateMiningJobTokenSuccess",
                json!({
                    "request_id": m.request_id,
                    "mining_job_token": hex(m.mining_job_token.as_bytes()),
                    "coinbase_outputs": hex(m.coinbase_outputs.as_bytes()),
                }),
            ),
            JobDeclaration::DeclareMiningJob(m) => (
                "DeclareMiningJob",
                json!({
                    "request_id": m.request_id,
                    "mining_job_token": hex(m.mining_job_token.as_bytes()),
                    "version": m.version,
                    "coinbase_tx_prefix": hex(m.coinbase_tx_prefix.as_bytes()),
                    "coinbase_tx_suffix": hex(m.coinbase_tx_suffix.as_bytes()),
                    "wtxid_list": seq64k_u256(&m.wtxid_list),
                    "excess_data": hex(m.excess_data.as_bytes()),
                }),
            ),
            JobDeclaration::DeclareMiningJobSuccess(m) => (
                "DeclareMiningJobSuccess",
                json!({
                    "request_id": m.request_id,
                    "new_mining_job_token": hex(m.new_mining_job_token.as_bytes()),
                }),
            ),
            JobDeclaration::DeclareMiningJobError(m) => (
                "DeclareMiningJobError",
                json!({
                    "request_id": m.request_id, "error_code": s(&m.error_code),
                    "error_details": hex(m.error_details.as_bytes()),
                }),
            ),
            JobDeclaration::ProvideMissingTransactions(m) => (
                "ProvideMissingTransactions",
                json!({
                    "request_id": m.request_id,
                    "unknown_tx_position_list": seq64k_u16(&m.unknown_tx_position_list),
                }),
            ),
            JobDeclaration::ProvideMissingTransactionsSuccess(m) => (
                "ProvideMissingTransactionsSuccess",
                json!({
                    "request_id": m.request_id,
                    "transaction_list": seq64k_b016m(&m.transaction_list),
                }),
            ),
            JobDeclaration::PushSolution(m) => (
                "PushSolution",
                json!({
                    "extranonce": hex(m.extranonce.as_bytes()),
                    "prev_hash": hex(m.prev_hash.as_bytes()), "nonce": m.nonce,
                    "ntime": m.ntime, "nbits": m.nbits, "version": m.version,
                }),
            ),
        },
        AnyMessage::Extensions(Extensions::ExtensionsNegotiation(e)) => match e {
            ExtensionsNegotiation::RequestExtensions(m) => (
                "RequestExtensions",
                json!({
                    "request_id": m.request_id,
                    "requested_extensions": seq64k_u16(&m.requested_extensions),
                }),
            ),
            ExtensionsNegotiation::RequestExtensionsSuccess(m) => (
                "RequestExtensionsSuccess",
                json!({
                    "request_id": m.request_id,
                    "supported_extensions": seq64k_u16(&m.supported_extensions),
                }),
            ),
            ExtensionsNegotiation::RequestExtensionsError(m) => (
                "RequestExtensionsError",
                json!({
                    "request_id": m.request_id,
                    "unsupported_extensions": seq64k_u16(&m.unsupported_extensions),
                    "required_extensions": seq64k_u16(&m.required_extensions),
                }),
            ),
        },
    }
}

/// Plaintext frame (6-byte header + payload) for `msg`, using SRI's message table for the
/// msg_type, extension type and channel bit.
pub(crate) fn encode_plain(msg: AnyMessage<'_>) -> Res<Vec<u8>> {
    let frame = MessageFrame::<AnyMessage>::try_from(msg).map_err(|e| format!("frame: {e:?}"))?;
    let mut enc = Encoder::new();
    let out = enc.encode(frame).map_err(|e| format!("encode: {e:?}"))?;
    let bytes: &[u8] = out.as_ref();
    Ok(bytes.to_vec())
}

/// Extension 0x0002, Worker-Specific Hashrate Tracking (SV2.md §10).
pub(crate) const WORKER_EXT: u16 = 0x0002;

pub(crate) fn tlvs_json(list: &[Tlv]) -> Value {
    Value::Array(
        list.iter()
            .map(|t| json!({"extension_type": t.r#type.extension_type, "field_type": t.r#type.field_type, "value": hex(&t.value)}))
            .collect(),
    )
}

/// A frame with TLVs appended after the message's fields, built by SRI's TlvList.
pub(crate) fn encode_with_tlvs(msg: AnyMessage<'_>, tlvs: &[Tlv]) -> Res<Vec<u8>> {
    let AnyMessage::Mining(m) = msg else {
        return Err("TLVs are only defined on mining messages here".into());
    };
    let list = TlvList::from_slice(tlvs).map_err(|e| format!("tlv list: {e:?}"))?;
    list.build_frame_bytes_with_tlvs(m)
        .map_err(|e| format!("tlv frame: {e:?}"))
}

pub(crate) fn header_json(h: &Header) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ext_type".into(), json!(h.ext_type()));
    m.insert("msg_type".into(), json!(h.msg_type()));
    // The channel_msg flag is bit 15 (0x8000) of the LE U16 extension_type (SV2.md §1.1).
    m.insert("channel_msg".into(), json!(h.ext_type() & 0x8000 != 0));
    m.insert("payload_length".into(), json!(h.payload_length()));
    m
}

/// Decodes a full plaintext frame with SRI's parser. On success: header facts, SRI's fields,
/// how many payload bytes SRI's message occupies, and SRI's own re-encoding of what it read.
pub(crate) fn decode_plain(bytes: &[u8]) -> Res<Map<String, Value>> {
    let mut buf = bytes.to_vec();
    let frame = framing_sv2::framing::SerializedFrame::<Vec<u8>>::from_bytes(buf.clone())
        .map_err(|e| format!("frame length does not match header: {e:?}"))?;
    let header = frame.header();
    let payload = &mut buf[Header::SIZE..];
    // Extension 0x0002 (worker TLV) counts as negotiated, so SRI reports TLVs it finds after
    // the last field (SV2.md §10); without TLVs this is plain AnyMessage parsing.
    let (msg, tlvs) = parsers_sv2::parse_message_frame_with_tlvs(header, payload, &[WORKER_EXT])
        .map_err(|e| format!("parse: {e:?}"))?;
    let (name, mut fields) = render(&msg);
    let consumed = binary_sv2::GetSize::get_size(&msg);
    let reencoded = match &tlvs {
        Some(list) => encode_with_tlvs(msg.clone(), list)?,
        None => encode_plain(msg.clone())?,
    };
    if let Some(list) = &tlvs {
        fields["tlvs"] = tlvs_json(list);
    }
    let mut out = header_json(&header);
    out.insert("msg".into(), json!(name));
    out.insert("fields".into(), fields);
    out.insert("consumed".into(), json!(consumed));
    out.insert("reencoded_hex".into(), json!(hex(&reencoded)));
    out.insert("sri_channel_bit".into(), json!(msg.channel_bit()));
    Ok(out)
}
