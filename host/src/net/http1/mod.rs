//! The HTTP/1.1 wire format that the proxy's fast path and the health probes share:
//! header fields, body framing, response heads, and reading one whole response.

mod fields;
mod framing;
mod response;
mod whole;

#[cfg(test)]
pub(crate) use fields::MAX_NAMED;
pub(crate) use fields::{
    HOP_BY_HOP, Named, is_hop_by_hop, lists_token, parse_length, write_field, write_length,
};
#[cfg(feature = "fuzzing")]
pub(crate) use framing::Chunked;
pub(crate) use framing::{Framing, Piece};
pub(crate) use response::{ResponseHead, ResponseSink, about_the_connection, parse_response};
pub(crate) use whole::{HeadError, WholeResponse, read_head, read_response};

use httparse::Header;
use std::mem::MaybeUninit;

/// Room made for each socket read.
pub(crate) const READ_CHUNK: usize = 16 << 10;

/// Most header fields in one head (hyper's limit too).
pub(crate) const MAX_HEADERS: usize = 100;

/// Header slots for one parse.
pub(crate) type HeaderSlots<'b> = [MaybeUninit<Header<'b>>; MAX_HEADERS];

/// Uninitialised slots; `httparse` fills what it uses.
pub(crate) fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// What a buffer holds.
pub(crate) enum Parsed<T> {
    /// Not all of it yet.
    Partial,
    /// A head the fast path takes.
    Ready(T),
    /// A well-formed request the fast path leaves to the general path.
    Handoff,
    /// Unacceptable: answer with this status and close.
    Refuse(u16),
}
